# Two entry points for a fresh Debian/Ubuntu machine:  `make demo`  and  `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: system install demo test test-strict lint docs wheel asan soak clean

system:
	$(SUDO) apt-get update -qq
	$(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libsuitesparse-dev build-essential >/dev/null

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

install: system $(BIN)/python
	$(BIN)/pip install -q "jax>=0.10" "scikit-build-core>=0.10" "nanobind>=2.0"
	$(BIN)/pip install -q --no-build-isolation -e ".[test,docs,dev]"

demo: install
	$(BIN)/python examples/quickstart.py

lint:
	$(BIN)/ruff check src tests examples benchmarks
	$(BIN)/mypy

test: install
	$(MAKE) lint
	$(BIN)/python -m pytest -q
	$(MAKE) test-strict

# The strict leg: the public paths again under jax_numpy_dtype_promotion="strict" and
# jax_numpy_rank_promotion="raise" (lineax's conventions; see tests/conftest.py).
test-strict:
	NATIVAX_STRICT=1 $(BIN)/python -m pytest -q -m strict

docs:
	$(BIN)/mkdocs build --strict -d build/site

wheel: install
	PYTHON=$(BIN)/python tools/build_wheel.sh

asan: install
	PYTHON=$(BIN)/python tools/asan_check.sh

soak: install
	$(BIN)/python benchmarks/soak.py --quick

clean:
	rm -rf build $(VENV) site
