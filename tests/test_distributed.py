"""`nativax.distributed` on 4 emulated CPU devices.

The test process already runs a one-device JAX backend, so the checks (tests/distributed_worker.py)
run once in a fresh interpreter with ``XLA_FLAGS=--xla_force_host_platform_device_count=4``; each
check is reported as its own test here.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
WORKER = HERE / "distributed_worker.py"
ROOT = HERE.parent
CHECK_NAMES = [
    "identity_and_diagonal_exact",
    "random_spd_float64_potri_potrs_potrf",
    "odd_n_needs_padding",
    "every_dtype",
    "not_positive_definite",
    "validation_errors_name_the_argument",
    "shardmap_ctx_and_symmetrize",
    "lineax_solver",
    "explicit_axes_mesh",
    "gradients_vs_jnp_linalg",
    "gp_example_small",
    "docs_page_examples",
]


def _four_device_env():
    env = dict(os.environ)
    flags = re.sub(r"--xla_force_host_platform_device_count=\S*", "", env.get("XLA_FLAGS", ""))
    env["XLA_FLAGS"] = (flags + " --xla_force_host_platform_device_count=4").strip()
    env["JAX_PLATFORMS"] = "cpu"
    return env


# Two worker processes run in parallel: the checks are dominated by single-threaded XLA compiles.
GROUPS = [
    ["gradients_vs_jnp_linalg", "odd_n_needs_padding", "shardmap_ctx_and_symmetrize",
     "random_spd_float64_potri_potrs_potrf", "identity_and_diagonal_exact",
     "validation_errors_name_the_argument"],
    ["gp_example_small", "every_dtype", "docs_page_examples", "lineax_solver",
     "not_positive_definite", "explicit_axes_mesh"],
]


@pytest.fixture(scope="module")
def results():
    procs = [
        subprocess.Popen([sys.executable, str(WORKER), *group], cwd=ROOT, env=_four_device_env(),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for group in GROUPS
    ]
    out = {}
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=900)
        lines = [l for l in stdout.splitlines() if l.startswith("NATIVAX_DIST_RESULTS ")]
        assert lines, f"worker crashed (rc={proc.returncode}):\n{stdout[-3000:]}\n{stderr[-6000:]}"
        out.update(json.loads(lines[-1].split(" ", 1)[1]))
    return out


@pytest.mark.parametrize("name", CHECK_NAMES)
def test_distributed(results, name):
    assert results.get(name) == "ok", results.get(name, "check did not run")


def test_every_check_is_listed():
    defined = re.findall(r"^@check\ndef (\w+)\(", WORKER.read_text(), flags=re.M)
    assert sorted(defined) == sorted(CHECK_NAMES) == sorted(sum(GROUPS, []))
