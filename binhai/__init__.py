"""binhai: the command line and the embedded deployment that wires every package together.

The CLI is the only layer that reads env vars and config files (``binhai --help``).
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
