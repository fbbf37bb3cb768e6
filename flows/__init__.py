"""Bytewax dataflows (each a short list of named steps) and the ``offerflow`` commands
that run them."""
