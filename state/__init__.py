"""Keyed per-entity state the dataflows keep (and Bytewax snapshots for recovery)."""
