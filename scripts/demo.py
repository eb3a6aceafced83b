"""Same as ``python -m rnnaccel.apps.demo`` (``--help`` lists the options)."""

import sys

from rnnaccel.apps.demo import main

if __name__ == "__main__":
    sys.exit(main())
