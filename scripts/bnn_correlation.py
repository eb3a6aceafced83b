"""Same as ``python -m rnnaccel.apps.bnn_correlation`` (``--help`` lists the options)."""

from rnnaccel.apps.bnn_correlation import main

if __name__ == "__main__":
    main()
