"""Same as ``python -m rnnaccel.apps.bench_emulator`` (``--help`` lists the options)."""

import sys

from rnnaccel.apps.bench_emulator import main

if __name__ == "__main__":
    sys.exit(main())
