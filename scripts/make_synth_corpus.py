"""Generate the synthesized-speech corpus (Multi30k English sentences, many TTS voices).

    python scripts/make_synth_corpus.py --out <dir> --seed 0 --hours 4

Same as ``python -m rnnaccel.datasets.synth``; ``--help`` lists every option. Cached: re-running
with the same arguments does nothing, and a stopped run resumes. See docs/data.md.
"""

from rnnaccel.datasets.synth import main

if __name__ == "__main__":
    raise SystemExit(main())
