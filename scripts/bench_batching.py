"""Same as ``python -m rnnaccel.apps.bench_batching`` (``--help`` lists the options)."""

import sys

from rnnaccel.apps.bench_batching import main

if __name__ == "__main__":
    sys.exit(main())
