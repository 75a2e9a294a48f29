"""Conversion's writes, one module per part. `core` holds the handoff's life cycle that every part builds
on: open, decide, reassign, withdraw, and logging an activity."""
