"""Bytewax dataflows, each a short list of named steps, and the wiring they share (consuming
and gating events, dead letters, placement of single-key models, the per-process operations
endpoint). ``offerflow run`` starts them; ``python -m bytewax.run flows.profiles:flow`` too."""
