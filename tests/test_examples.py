"""Run the diffusion-fit, AC-circuit and implicit-Euler examples in their small modes and check their numbers.

(quickstart.py and sharded_batch.py are run by tests/test_quickstart_and_scaleout.py.)
"""

import runpy
from pathlib import Path

import numpy as np

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load_main(name: str):
    """The example's `main`, without running its `__main__` block."""
    return runpy.run_path(str(EXAMPLES / name), run_name=f"nativax_example_{Path(name).stem}")["main"]


def test_diffusion_fit():
    out = load_main("diffusion_fit.py")(small=True)
    losses = out["losses"]
    assert np.all(np.isfinite(losses))
    assert losses[-1] < 1e-3 * losses[0], (losses[0], losses[-1])
    assert out["theta_error"] < 0.25 * out["theta_error_initial"], out["theta_error"]
    assert out["grad_rel_err"] < 1e-6


def test_ac_circuit():
    out = load_main("ac_circuit.py")(small=True)
    assert out["v_out"].dtype == np.complex128
    assert out["power"] > 0
    assert out["forward_err"] < 1e-10
    assert out["grad_err"] < 1e-5


def test_implicit_euler():
    out = load_main("implicit_euler.py")(small=True)
    for name, err in out["errors"].items():
        assert err < 1e-10, (name, err)
    assert out["held_vs_scipy"] < 1e-12
    assert np.all(np.diff(out["norms"]) < 0)  # the heat equation dissipates

