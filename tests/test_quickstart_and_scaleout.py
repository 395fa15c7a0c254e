"""The README quick-start and the shard_map scale-out example run and give correct answers."""

import subprocess
import sys
from pathlib import Path

import jax
import pytest

import nativax

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_quickstart_runs():
    out = subprocess.run([sys.executable, str(EXAMPLES / "quickstart.py")], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "max residual" in out.stdout
    residual = float(out.stdout.split("max residual ")[1].split()[0])
    assert residual < 1e-10


def test_sharded_batch_on_four_devices():
    code = f"import sys; sys.path.insert(0, {str(EXAMPLES)!r}); import sharded_batch; print('ERR', sharded_batch.main(small=True))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "on 4 devices" in out.stdout
    assert float(out.stdout.split("ERR ")[1]) < 1e-10


def test_shard_batch_validates():
    mesh = jax.sharding.Mesh(jax.devices()[:1], ("b",))
    with pytest.raises(ValueError, match="axis"):
        nativax.scaleout.shard_batch(lambda x: x, mesh, "nope")
    with pytest.raises(TypeError, match="mesh"):
        nativax.scaleout.shard_batch(lambda x: x, "mesh", "b")
