"""Every public path in float32/complex64 with `jax_enable_x64` off, under strict dtype promotion and rank
promotion "raise" (lineax's conventions). The test process has x64 on, so the checks
(tests/strict_no_x64_worker.py) run once in a fresh interpreter; each is reported as its own test."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
WORKER = HERE / "strict_no_x64_worker.py"
CHECK_NAMES = [
    "x64_is_off_and_strict_is_on",
    "operators",
    "klu_functional_and_handles",
    "klu_gradients",
    "lineax_solvers",
    "matrix_free_and_sparsity",
]


@pytest.fixture(scope="module")
def results():
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_")}
    env["JAX_PLATFORMS"] = "cpu"
    proc = subprocess.run([sys.executable, str(WORKER)], cwd=HERE.parent, env=env, capture_output=True, text=True,
                          timeout=600)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("NATIVAX_NO_X64_RESULTS ")]
    assert lines, f"worker crashed (rc={proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    return json.loads(lines[-1].split(" ", 1)[1])


@pytest.mark.parametrize("name", CHECK_NAMES)
def test_no_x64_strict(results, name):
    assert results.get(name) == "ok", results.get(name, "check did not run")


def test_every_check_is_listed():
    assert sorted(re.findall(r"^@check\ndef (\w+)\(", WORKER.read_text(), flags=re.M)) == sorted(CHECK_NAMES)
