"""Same as ``python -m rnnaccel.apps.batching_sweep`` (``--help`` lists the options)."""

import sys

from rnnaccel.apps.batching_sweep import main

if __name__ == "__main__":
    sys.exit(main())
