"""``python -m panpin``: the same entry point as the ``panpin`` command."""

from panpin.cli import main

main()
