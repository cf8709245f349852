"""Migration scripts, applied in order at server start."""
