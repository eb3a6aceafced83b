# `make demo` and `make test` each create or refresh .venv (idempotent: reinstalls only when
# pyproject.toml or constraints.txt changed) and then run. `make test` runs `make check` (ruff lint,
# mypy on rnnaccel/emulator; settings in pyproject.toml) first, then the suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# what the tests need: the core plus the test, lint, plotting, TTS, sweep and field-tool extras
EXTRAS := test,lint,plot,tts,sweep,hwtools

.PHONY: demo test check bench venv clean

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

bench: $(STAMP)
	$(PY) scripts/bench_emulator.py

clean:
	rm -rf $(VENV) build *.egg-info
