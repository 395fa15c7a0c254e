"""Run the sparse-Jacobian examples (diffrax Kvaerno5 + KLU, optimistix Newton + KLU) in their small modes."""

import runpy
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

pytest.importorskip("diffrax")
pytest.importorskip("optimistix")


def load_main(name: str):
    """The example's `main`, without running its `__main__` block."""
    return runpy.run_path(str(EXAMPLES / name), run_name=f"nativax_example_{Path(name).stem}")["main"]


def test_brusselator_kvaerno():
    out = load_main("brusselator_kvaerno.py")(small=True)
    # KLU on the detected sparse Jacobian takes the same steps as the dense LU and
    # lands on the same solution.
    assert out["steps_klu"] == out["steps_dense"], out
    assert out["rel_err"] < 1e-8, out["rel_err"]
    assert out["colors"] <= out["lower_bound"] + 1, out
    assert out["nnz"] == out["expected_nnz"], out
    assert out["steps"] > 10 and np.isfinite(out["run"])


def test_newton_pde_grad():
    out = load_main("newton_pde_grad.py")(small=True)
    assert out["residual"] < 1e-9, out["residual"]
    assert out["steps"] <= 10, out["steps"]
    assert 0.1 < out["u_max"] < 1.0  # the lower Bratu branch at λ = 3
    assert out["grad"] > 0
    assert out["grad_rel_err"] < 1e-6, (out["grad"], out["fd"])


def test_sparse_hessian_newton():
    out = load_main("sparse_hessian_newton.py")(small=True)
    assert out["nnz"] == out["expected_nnz"], out
    assert out["colors"] <= 6, out
    assert out["final_grad"] < 1e-10 and out["steps"] <= 10, out
    assert out["dense_diff"] < 1e-10, out  # same Newton iterates as the dense Hessian
    assert out["hessian_err"] < 1e-10, out
    assert out["optx_diff"] < 1e-8, out


def test_robertson_cells():
    out = load_main("robertson_cells.py")(small=True)
    assert out["nnz"] == out["expected_nnz"], out
    assert out["colors"] <= out["lower_bound"] + 1, out
    assert out["steps_klu"] == out["steps_dense"], out
    assert out["rel_err"] < 1e-8, out
    assert out["mass_err"] < 1e-10, out
