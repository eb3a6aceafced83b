"""Same as ``python -m rnnaccel.apps.precision_plot`` (``--help`` lists the options)."""

from rnnaccel.apps.precision_plot import main

if __name__ == "__main__":
    main()
