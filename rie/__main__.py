"""``python -m rie``: the command line (``rie.cli``)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
