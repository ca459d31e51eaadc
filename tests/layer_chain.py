"""A hand-made 'model' for layer tests: layers chained, with the protocol the engine's Model
follows (forward/backward/get_weights/set_weights/get_gradients/weight_names), so a test can
show that anything with that protocol works, and step the fused softmax path by hand."""


class Chain:
    """Layers in sequence, with the model protocol."""

    def __init__(self, *layers):
        self.layers = layers

    def forward(self, x, training=False):
        for layer in self.layers:
            x = layer.forward(x, training=training)
        return x

    def backward(self, dy, preactivation=False):
        """dL/dx from dL/dy, or from dL/dz of the last layer when ``preactivation``."""
        last, *rest = reversed(self.layers)
        dy = last.backward_preactivation(dy) if preactivation else last.backward(dy)
        for layer in rest:
            dy = layer.backward(dy)
        return dy

    def get_weights(self):
        return [w for layer in self.layers for w in layer.get_weights()]

    def set_weights(self, weights):
        weights = list(weights)
        for layer in self.layers:
            count = len(layer.weight_names)
            layer.set_weights(weights[:count])
            weights = weights[count:]

    def get_gradients(self):
        return [g for layer in self.layers for g in layer.get_gradients()]

    @property
    def weight_names(self):
        return [name for layer in self.layers for name in layer.weight_names]
