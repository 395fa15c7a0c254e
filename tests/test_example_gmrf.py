"""examples/gmrf_inference.py in its small mode: the marginal likelihood, its gradient and the posterior marginal
variances against dense numpy, and the fit improving the likelihood."""

import re
import runpy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nativax

pytestmark = pytest.mark.skipif(not nativax.has_cholmod, reason="this build has no CHOLMOD (NATIVAX_GPL=OFF)")

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "gmrf_inference.py"


def test_gmrf_inference_small():
    out = runpy.run_path(str(EXAMPLE), run_name="nativax_example_gmrf")["main"](small=True)
    assert out["loglik_err"] < 1e-10
    assert out["grad_err"] < 1e-5
    assert out["variance_err"] < 1e-10
    assert out["mean_err"] < 1e-10
    assert out["nll_final"] < out["nll_initial"] - 5.0
    assert out["sample_mean_err"] < 0.5  # 200 draws: |mean error| / sd ~ 1/sqrt(200) per node, max over 144
    assert 0.8 < out["coverage_2sd"] <= 1.0
    assert np.all(np.isfinite(out["theta_fit"]))


def test_gaussian_models_page_runs():
    """docs/gaussian-models.md: its Python blocks run top to bottom (they assert their own results)."""
    text = (EXAMPLE.parent.parent / "docs" / "gaussian-models.md").read_text()
    program = "\n\n".join(m.group(1) for m in re.finditer(r"^```python\n(.*?)^```$", text, flags=re.S | re.M))
    assert program
    proc = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
