"""Key vault models (filled in by the key vault work)."""
