"""High-level APIs (whole-scene inference)."""
