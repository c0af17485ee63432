# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
VENV    ?= .venv
PY      := $(VENV)/bin/python
BOOSTER := $(VENV)/bin/booster
STAMP   := $(VENV)/.installed
DEMO    ?= build/demo

.PHONY: setup demo test test-slow lint bench check-hear clean

setup: $(STAMP)

# torch first, from the CPU build on local disk; otherwise pip fetches a multi-GB CUDA build.
$(STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	# Basic Pitch's wheel holds the ONNX teacher model; without --no-deps it would pull in TensorFlow
	$(PY) -m pip install -q --no-deps basic-pitch==0.4.0
	# musicnn's wheel holds its TF checkpoints (read without TensorFlow); its deps pin TensorFlow and NumPy < 1.17
	$(PY) -m pip install -q --no-deps musicnn==0.1.0
	@bash scripts/ensure-fluidsynth.sh
	@touch $(STAMP)

# render a small corpus, cache it with the bundled model, show the store and one feature's statistics
demo: setup
	$(BOOSTER) data render $(DEMO)/corpus --tracks 4 --seconds 8 --seed 0
	rm -rf $(DEMO)/features.zarr
	$(BOOSTER) cache $(DEMO)/corpus -o $(DEMO)/features.zarr --workers 2
	$(BOOSTER) info $(DEMO)/features.zarr --stats top.layer2

lint: setup
	$(VENV)/bin/ruff check .

test: setup lint
	$(VENV)/bin/pytest -q

test-slow: setup
	$(VENV)/bin/pytest -q -m slow

$(VENV)/.bench-installed: $(STAMP)
	$(PY) -m pip install -q -e '.[dev,bench]'
	@touch $@

bench: $(VENV)/.bench-installed
	$(BOOSTER) bench all

# The official HEAR 2021 validator imports TensorFlow at module level: it gets a venv of its own
# (not part of `make test`; CI need not run it). hearvalidator asks for the full tensorflow
# package, so it is installed without dependencies beside tensorflow-cpu.
HEAR_VENV ?= .venv-hear
check-hear:
	@test -x $(HEAR_VENV)/bin/python || python3 -m venv $(HEAR_VENV)
	$(HEAR_VENV)/bin/python -m pip install -q --upgrade pip
	$(HEAR_VENV)/bin/python -m pip install -q torch==2.13.0
	$(HEAR_VENV)/bin/python -m pip install -q -e . tensorflow-cpu
	$(HEAR_VENV)/bin/python -m pip install -q --no-deps hearvalidator
	$(HEAR_VENV)/bin/hear-validator booster.hear

clean:
	rm -rf build .pytest_cache .ruff_cache
