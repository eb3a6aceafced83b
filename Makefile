# `make demo` and `make test` each create or refresh .venv (idempotent: reinstalls only when
# pyproject.toml or constraints.txt changed) and then run.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test bench venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt torch torchaudio
	$(PY) -m pip install -q -c constraints.txt -e '.[test,sweep,hwtools]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) scripts/demo.py

test: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider tests

bench: $(STAMP)
	$(PY) scripts/bench_emulator.py

clean:
	rm -rf $(VENV) build *.egg-info
