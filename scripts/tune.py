"""Same as ``rnnaccel-tune`` / ``python -m rnnaccel.apps.tune`` (``--help`` lists the options)."""

from rnnaccel.apps.tune import main

if __name__ == "__main__":
    main()
