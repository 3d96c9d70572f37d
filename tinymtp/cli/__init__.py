"""The command line, `python -m tinymtp ...`: main.py parses and dispatches, generate.py streams."""

from .main import build_parser, main

__all__ = ["build_parser", "main"]
