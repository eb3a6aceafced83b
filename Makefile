# `make demo` and `make test` each create or refresh .venv (idempotent: reinstalls only when
# pyproject.toml or constraints.txt changed) and then run. `make test` runs `make check` (ruff lint,
# mypy on rnnaccel/emulator; settings in pyproject.toml) first, then the suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# what the tests need: the core plus the test, lint, plotting, TTS, sweep and field-tool extras
EXTRAS := test,fast,lint,plot,tts,sweep,hwtools

.PHONY: demo test check bench venv clean papers papers-ebatch tts-voices

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt torch torchaudio
	$(PY) -m pip install -q -c constraints.txt -e '.[$(EXTRAS)]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) scripts/demo.py

check: $(STAMP)
	$(VENV)/bin/ruff check rnnaccel tests scripts
	$(VENV)/bin/ruff format --check rnnaccel tests scripts
	$(VENV)/bin/mypy

test: check
	$(PY) -m pytest -q -p no:cacheprovider tests

# docs/papers.md: every technique's setting searched on validation, evaluated once on test, per
# shipped network (rnnaccel-tune; results and tables under runs/papers/<network>/; reruns skip runs
# already complete; memoization is also searched on top of the static baseline width, tune.yaml
# on_static). The translator: budget in BLEU points, the first 400 validation sentences, full test.
# Measured: 872 s (14.5 min) for the four networks on 2 shared CPU cores (load ~5 from other jobs),
# commit ac46a75, plus 46 s for papers-ebatch; docs/papers.md.
TUNE := nice -n 10 $(PY) -m rnnaccel.apps.tune
papers: $(STAMP)
	@start=$$(date +%s); \
	$(TUNE) --checkpoint checkpoints/digits_blstm.pt --set data.scheme=index --out runs/papers/digits_blstm && \
	$(TUNE) --checkpoint checkpoints/digits_bgru.pt --set data.scheme=index --out runs/papers/digits_bgru && \
	$(TUNE) --checkpoint checkpoints/sentiment/sentiment_lstm.pt --set data=sentiment --set eval.batch_size=256 \
		--out runs/papers/sentiment_lstm && \
	$(TUNE) --checkpoint checkpoints/translation/translator.pt --searches memo_theta,precision_static,precision_ladder \
		--val-limit 400 --out runs/papers/translator && \
	$(MAKE) --no-print-directory papers-ebatch && \
	echo "make papers: $$(( $$(date +%s) - start )) s; tables and figures: runs/papers/*/tune.md, runs/papers/ebatch*"

# docs/papers.md §3: E-BATCH vs every baseline on the shipped and paper-scale networks (both platforms), then
# memoization / dynamic precision / both under load from evaluation traces of the digits BiLSTM (in-domain
# index split: the checkpoint trained on every speaker; the first 200 test utterances; packaged θ and τ).
EVAL := nice -n 10 $(PY) -m rnnaccel.apps.evaluate eval.checkpoint=checkpoints/digits_blstm.pt data.scheme=index \
	eval.limit=200 eval.progress=false
TRACES := runs/papers/ebatch_traces
papers-ebatch: $(STAMP)
	nice -n 10 $(PY) -m rnnaccel.apps.shapes --out runs/papers/ebatch --requests 1000
	$(EVAL) memo=bnn eval.trace_output=$(TRACES)/memo.npz eval.output=$(TRACES)/memo.json
	$(EVAL) precision=dynamic eval.trace_output=$(TRACES)/prec.npz eval.output=$(TRACES)/prec.json
	$(EVAL) memo=bnn precision=dynamic eval.trace_output=$(TRACES)/both.npz eval.output=$(TRACES)/both.json
	nice -n 10 $(PY) -m rnnaccel.apps.shapes --out runs/papers/ebatch_tech --networks digits_blstm --requests 1000 \
		--tech-steps 64 --techniques memo=$(TRACES)/memo.npz precision=$(TRACES)/prec.npz both=$(TRACES)/both.npz

bench: $(STAMP)
	$(PY) scripts/bench_emulator.py

clean:
	rm -rf $(VENV) build *.egg-info

# the natural-sounding TTS voices (flite, festival) the synthesized corpora use when installed:
# apt-get when root with apt, otherwise the command to run
TTS_PACKAGES := flite festival festvox-us-slt-hts festvox-kallpc16k festvox-kdlpc16k
tts-voices:
	@if command -v flite >/dev/null && command -v festival >/dev/null; then echo "flite and festival present"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(TTS_PACKAGES); \
	else echo "tts-voices: run as root: apt-get install $(TTS_PACKAGES) (without them only espeak-ng voices are used)"; fi
