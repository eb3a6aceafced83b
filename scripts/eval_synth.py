"""Same as ``python -m rnnaccel.apps.eval_synth`` (``--help`` lists the options)."""

import sys

from rnnaccel.apps.eval_synth import main

if __name__ == "__main__":
    sys.exit(main())
