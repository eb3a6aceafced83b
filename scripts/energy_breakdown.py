"""Same as ``python -m rnnaccel.apps.energy_breakdown`` (``--help`` lists the options)."""

import sys

from rnnaccel.apps.energy_breakdown import main

if __name__ == "__main__":
    sys.exit(main())
