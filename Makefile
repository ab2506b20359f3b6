# Everything a fresh machine needs: `make demo` (samples on the embedded default) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test test-fast bench bench-clone bench-intelligibility energy-card install clean

install: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.lock
	$(BIN)/python -m pip install -q --no-deps kokoro==0.9.4 resemblyzer==0.1.4
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e . || $(BIN)/python -m pip install -q --no-deps -e .
	@touch $@

demo: $(STAMP)
	$(BIN)/greentts demo --out-dir samples

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not model"

bench: $(STAMP)
	$(BIN)/python bench/throughput.py

# Voice cloning on 17 real speakers: similarity (CAM++, GE2E, ECAPA), same-speaker ceiling, ASR, time, energy.
bench-clone: $(STAMP)
	$(BIN)/python bench/clone.py

# Intelligibility side by side with the raw G2P pipeline and kokoro-onnx on hard text (about 60 minutes).
bench-intelligibility: $(STAMP)
	$(BIN)/python -m pip install -q kokoro-onnx==0.6.1 phonemizer==3.4.0 espeakng-loader==0.2.4 dlinfo==2.0.0
	$(BIN)/python bench/intelligibility.py --markdown docs/intelligibility.md --json docs/intelligibility.json

# The energy card (docs/energy-card.{md,json,png}); about 30 minutes on 2 vCPUs.
energy-card: $(STAMP)
	$(BIN)/python -m pip install -q -c requirements.lock matplotlib==3.11.2 codecarbon==3.3.2
	$(BIN)/python bench/energy_card.py --update-package

clean:
	rm -rf $(VENV) samples .pytest_cache build src/*.egg-info
