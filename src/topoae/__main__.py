"""``python -m topoae ...``: the ``topoae`` command line, for environments without the script."""

import sys

from topoae.cli import main

if __name__ == "__main__":
    sys.exit(main())
