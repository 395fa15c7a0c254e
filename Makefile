# Two entry points for a fresh Debian/Ubuntu machine:  `make demo`  and  `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# Second test leg: the newest JAX (0.12.x needs Python >= 3.12) in a fresh venv.
PYTHON_NEW ?=
VENV_NEW   ?= .venv-newest
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: system system-petsc install demo test test-newest test-strict lint docs wheel asan soak clean

system:
	$(SUDO) apt-get update -qq
	$(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libsuitesparse-dev libopenblas0-pthread build-essential >/dev/null

# The PETSc engine (nativax.PETSc) and Open MPI, for the test legs; `make demo` does not need them.
system-petsc: system
	$(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libpetsc-real3.18-dev openmpi-bin >/dev/null

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

test: system-petsc install
	$(MAKE) lint
	$(BIN)/python -m pytest -q
	$(MAKE) test-strict

# The strict leg: the public paths again under jax_numpy_dtype_promotion="strict" and
# jax_numpy_rank_promotion="raise" (lineax's conventions; see tests/conftest.py).
test-strict:
	NATIVAX_STRICT=1 $(BIN)/python -m pytest -q -m strict

# The full suite again on the newest JAX: a fresh venv from PYTHON_NEW (>= 3.12), the package
# built there, lint + tests. `.ci/run` calls it when the machine has such an interpreter.
test-newest: system-petsc
	@test -n "$(PYTHON_NEW)" || { echo "test-newest: set PYTHON_NEW=/path/to/python3.12 (or newer)"; exit 2; }
	rm -rf $(VENV_NEW)
	$(PYTHON_NEW) -m venv $(VENV_NEW)
	$(VENV_NEW)/bin/pip install -q --upgrade pip
	$(VENV_NEW)/bin/pip install -q --upgrade "jax>=0.10" "scikit-build-core>=0.10" "nanobind>=2.0"
	$(VENV_NEW)/bin/pip install -q --no-build-isolation -e ".[test,docs,dev]"
	$(VENV_NEW)/bin/python -c "import sys, jax; print(f'test-newest: Python {sys.version.split()[0]}, jax {jax.__version__}')"
	$(MAKE) lint VENV=$(VENV_NEW)
	$(VENV_NEW)/bin/python -m pytest -q

docs:
	$(BIN)/mkdocs build --strict -d build/site

wheel: install
	PYTHON=$(BIN)/python tools/build_wheel.sh

asan: install
	PYTHON=$(BIN)/python tools/asan_check.sh

soak: install
	$(BIN)/python benchmarks/soak.py --quick

clean:
	rm -rf build $(VENV) $(VENV_NEW) site
