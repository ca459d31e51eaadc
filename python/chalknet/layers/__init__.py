"""Layers: configuration and parameters around the ops, each with forward and backward."""

from .base import Layer, get_layer_class

__all__ = ["Layer", "get_layer_class"]

# ----- the engine's layers (branch layers) ----------------------------------------------------
from .core import Activation, Dense, Flatten, InputLayer, Reshape

__all__ += ["Activation", "Dense", "Flatten", "InputLayer", "Reshape"]

# ----- activation, regularization, normalization, convolution and pooling layers (layers) -----
from .activations import LeakyReLU, Maxout, PReLU, ReLU, Softmax
from .conv import Conv2D
from .normalization import Normalization
from .pooling import (
    AveragePooling2D,
    AvgPool2D,
    GlobalAveragePooling2D,
    GlobalMaxPooling2D,
    MaxPool2D,
    MaxPooling2D,
    ZeroPadding2D,
)
from .regularization import Dropout

__all__ += [
    "AveragePooling2D", "AvgPool2D", "Conv2D", "Dropout", "GlobalAveragePooling2D",
    "GlobalMaxPooling2D", "LeakyReLU", "MaxPool2D", "MaxPooling2D", "Maxout", "Normalization",
    "PReLU", "ReLU", "Softmax", "ZeroPadding2D",
]
# ----- recurrent and sequence layers (branch rnn) ---------------------------------------------
from .recurrent import GRU, LSTM, Bidirectional, SimpleRNN
from .sequence import Embedding, Masking, RepeatVector, TimeDistributed

__all__ += ["GRU", "LSTM", "Bidirectional", "Embedding", "Masking", "RepeatVector", "SimpleRNN",
            "TimeDistributed"]
