"""``python -m binhai`` is the ``binhai`` command."""

from binhai.cli import main

main()
