"""Layers: configuration and parameters around the ops, each with forward and backward."""

from .base import Layer, get_layer_class

__all__ = ["Layer", "get_layer_class"]

# ----- recurrent and sequence layers (branch rnn) ---------------------------------------------
from .recurrent import GRU, LSTM, Bidirectional, SimpleRNN
from .sequence import Embedding, Masking, RepeatVector, TimeDistributed

__all__ += ["GRU", "LSTM", "Bidirectional", "Embedding", "Masking", "RepeatVector", "SimpleRNN",
            "TimeDistributed"]
