"""Per-record logic the dataflows call: plain, testable functions and classes, no wiring."""
