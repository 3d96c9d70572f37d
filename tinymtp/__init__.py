"""tinymtp: a tiny multi-token-prediction transformer you can train and watch speculate on a CPU."""

__version__ = "0.1.0"
