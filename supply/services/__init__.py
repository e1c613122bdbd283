"""Use cases: plain functions that take a session (the unit of work) and plain values. No Flask."""
