"""nativax.AMG (JAX engine): convergence, resetup under jit, vmap, autodiff, preconditioning, errors."""

import os
import re
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from nativax import SparseOperator
from nativax import amg as amg_mod
from nativax._amg.spmv import Csr, _jax_matvec, matvec
from nativax.amg import AMG

ROOT = Path(__file__).resolve().parent.parent
SPD = (lx.symmetric_tag, lx.positive_semidefinite_tag)


def poisson2d(m: int, eps: float = 1.0) -> sp.csr_matrix:
    t = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(m, m))
    eye = sp.identity(m)
    return (sp.kron(t, eye) + eps * sp.kron(eye, t)).tocsr()


def convection_diffusion(m: int, wind: float = 20.0) -> sp.csr_matrix:
    """Upwinded -Δu + wind ∂u/∂x on an m x m grid (nonsymmetric, M-matrix)."""
    h = 1.0 / (m + 1)
    t = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(m, m)) / h**2
    c = sp.diags([-1.0, 1.0], [-1, 0], shape=(m, m)) * (wind / h)
    eye = sp.identity(m)
    return (sp.kron(eye, t + c) + sp.kron(t, eye)).tocsr()


def rhs(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(n)


def relres(a, x, b) -> float:
    return float(np.linalg.norm(b - a @ np.asarray(x)) / np.linalg.norm(b))


@pytest.mark.parametrize(
    "kw",
    [
        dict(),
        dict(method="ruge_stuben", cycle="W", smoother="chebyshev"),
        dict(cycle="F", sweeps=2, krylov=None, max_steps=200),
    ],
)
def test_poisson_converges(kw):
    a = poisson2d(24)
    b = rhs(a.shape[0])
    op = SparseOperator.from_scipy(a, tags=SPD)
    sol = lx.linear_solve(op, jnp.asarray(b), AMG(rtol=1e-10, max_coarse=40, **kw))
    assert relres(a, sol.value, b) < 1e-9
    np.testing.assert_allclose(sol.value, spla.spsolve(a.tocsc(), b), rtol=1e-7, atol=1e-8)
    assert 0 < int(sol.stats["num_steps"]) < 200


def test_anisotropic():
    a = poisson2d(24, eps=0.01)
    b = rhs(a.shape[0], 1)
    sol = lx.linear_solve(SparseOperator.from_scipy(a, tags=SPD), jnp.asarray(b), AMG(rtol=1e-10, max_coarse=40))
    np.testing.assert_allclose(sol.value, spla.spsolve(a.tocsc(), b), rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("krylov", ["gmres", "bicgstab"])
def test_nonsymmetric(krylov):
    a = convection_diffusion(20)
    b = rhs(a.shape[0], 2)
    solver = AMG(krylov=krylov, rtol=1e-10, max_coarse=40)
    sol = lx.linear_solve(SparseOperator.from_scipy(a), jnp.asarray(b), solver)
    np.testing.assert_allclose(sol.value, spla.spsolve(a.tocsc(), b), rtol=1e-7, atol=1e-9)


def test_resetup_under_jit_without_host_setup():
    a = poisson2d(20)
    n = a.shape[0]
    op = SparseOperator.from_scipy(a, tags=SPD)
    solver = AMG(rtol=1e-10, max_coarse=40).setup(op, resetup=True)
    before = amg_mod.setup_info()["setups"]
    solve = jax.jit(lambda s, v, b: lx.linear_solve(SparseOperator(v, op.pattern, SPD), b, s).value)
    rng = np.random.default_rng(3)
    for k in range(3):
        # new SPD values, same pattern: a diagonally scaled, shifted Laplacian
        d = sp.diags(1.0 + rng.random(n))
        a_new = (d @ a @ d + (0.1 * k) * sp.identity(n)).tocsr()
        new = SparseOperator.from_scipy(a_new, tags=SPD)
        assert new.pattern == op.pattern
        b = rhs(n, k)
        x = solve(solver, new.values, jnp.asarray(b))
        np.testing.assert_allclose(x, spla.spsolve(a_new.tocsc(), b), rtol=1e-7, atol=1e-9)
    assert amg_mod.setup_info()["setups"] == before


def _big_constants(hlo: str) -> list[str]:
    shapes = re.findall(r"stablehlo.constant dense<[^>]*> : tensor<([0-9x]+)x", hlo)
    return [c for c in shapes if np.prod([int(d) for d in c.split("x")]) > 100]


def test_hierarchy_arrays_are_arguments_not_constants():
    a = poisson2d(16)
    op = SparseOperator.from_scipy(a, tags=SPD)
    b = jnp.ones(a.shape[0])
    solver = AMG(max_coarse=40).setup(op)
    held = jax.jit(lambda s, o, v: lx.linear_solve(o, v, s).value).lower(solver, op, b).as_text()
    assert _big_constants(held) == []
    # the convenience path (no `setup`) embeds them: the check above can fail
    unheld = jax.jit(lambda o, v: lx.linear_solve(o, v, AMG(max_coarse=40)).value).lower(op, b).as_text()
    assert _big_constants(unheld)


def test_vmap_over_rhs():
    a = poisson2d(16)
    op = SparseOperator.from_scipy(a, tags=SPD)
    solver = AMG(rtol=1e-10, max_coarse=40).setup(op)
    bs = np.random.default_rng(4).standard_normal((3, a.shape[0]))
    xs = jax.vmap(lambda b: lx.linear_solve(op, b, solver).value)(jnp.asarray(bs))
    ref = spla.spsolve(a.tocsc(), bs.T).T
    np.testing.assert_allclose(xs, ref, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("symmetric", [True, False])
def test_grad_vs_dense(symmetric):
    a = poisson2d(10) if symmetric else convection_diffusion(10, wind=5.0)
    tags = SPD if symmetric else ()
    op = SparseOperator.from_scipy(a, tags=tags)
    solver = AMG(rtol=1e-12, max_coarse=20, krylov="cg" if symmetric else "gmres").setup(op)
    b = jnp.asarray(rhs(a.shape[0], 5))
    w = jnp.asarray(rhs(a.shape[0], 6))
    rows, cols = op.pattern.rows, op.pattern.cols

    def loss_amg(values, b):
        return jnp.dot(w, lx.linear_solve(SparseOperator(values, op.pattern, tags), b, solver).value)

    def loss_dense(values, b):
        dense = jnp.zeros(a.shape).at[rows, cols].set(values)
        return jnp.dot(w, jnp.linalg.solve(dense, b))

    g = jax.jit(jax.grad(loss_amg, argnums=(0, 1)))(op.values, b)
    g_ref = jax.grad(loss_dense, argnums=(0, 1))(op.values, b)
    for got, ref in zip(g, g_ref):
        np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-9 * float(jnp.abs(ref).max()))


def test_as_preconditioner_for_lineax_cg():
    a = poisson2d(16)
    b = jnp.asarray(rhs(a.shape[0], 7))
    op = SparseOperator.from_scipy(a, tags=SPD)
    cg = lx.CG(rtol=1e-10, atol=1e-10, max_steps=2000)
    prec = AMG(max_coarse=40).preconditioner(op)
    assert lx.is_positive_semidefinite(prec)
    pre = lx.linear_solve(op, b, cg, options={"preconditioner": prec})
    np.testing.assert_allclose(pre.value, spla.spsolve(a.tocsc(), np.asarray(b)), rtol=1e-7, atol=1e-8)
    assert int(pre.stats["num_steps"]) < 20  # unpreconditioned CG needs > 40 steps here


def test_max_steps_reached():
    a = poisson2d(16)
    op = SparseOperator.from_scipy(a, tags=SPD)
    sol = lx.linear_solve(op, jnp.asarray(rhs(a.shape[0])), AMG(rtol=1e-14, max_steps=2, max_coarse=40), throw=False)
    assert sol.result == lx.RESULTS.max_steps_reached
    assert int(sol.stats["num_steps"]) == 2


def test_nonfinite_inputs():
    a = poisson2d(12)
    op = SparseOperator.from_scipy(a, tags=SPD)
    solver = AMG(max_coarse=40).setup(op)
    b = rhs(a.shape[0])
    sol = lx.linear_solve(op, jnp.asarray(b).at[3].set(jnp.nan), solver, throw=False)
    assert sol.result == lx.RESULTS.nonfinite_input
    bad = SparseOperator(op.values.at[0].set(jnp.nan), op.pattern, SPD)
    sol = jax.jit(lambda s, o: lx.linear_solve(o, jnp.asarray(b), s, throw=False))(solver, bad)
    assert sol.result == lx.RESULTS.nonfinite_input
    with pytest.raises(ValueError, match="values.*NaN"):  # eager host setup refuses NaN outright
        AMG().setup(bad)


def test_bad_input():
    with pytest.raises(ValueError, match="`method`"):
        AMG(method="magic")
    with pytest.raises(ValueError, match="`smoother`"):
        AMG(smoother="sor")
    with pytest.raises(ValueError, match="`cycle`"):
        AMG(cycle="X")
    with pytest.raises(ValueError, match="`krylov`"):
        AMG(krylov="minres")
    with pytest.raises(ValueError, match="`engine='amgx'` is not available"):
        AMG(engine="amgx")
    with pytest.raises(ValueError, match="`rtol`"):
        AMG(rtol=-1.0)
    rect = SparseOperator.from_scipy(sp.random(6, 5, 0.5, random_state=0, format="csr") + sp.eye(6, 5))
    with pytest.raises(ValueError, match="square"):
        lx.linear_solve(rect, jnp.ones(6), AMG())
    a = poisson2d(8)
    op = SparseOperator.from_scipy(a, tags=SPD)
    with pytest.raises(ValueError, match="values"):
        SparseOperator(op.values[:-1], op.pattern)
    solver = AMG(max_coarse=20).setup(op)
    other = SparseOperator.from_scipy(poisson2d(8) + sp.diags([1.0], [5], shape=a.shape), tags=SPD)
    with pytest.raises(ValueError, match="pattern"):
        lx.linear_solve(other, jnp.ones(a.shape[0]), solver)
    with pytest.raises(ValueError, match="vector"):
        lx.linear_solve(op, jnp.ones(a.shape[0] + 1), solver)
    nodiag = SparseOperator.from_scipy(sp.diags([1.0, 1.0], [-1, 1], shape=(10, 10)).tocsr())
    with pytest.raises(ValueError, match="diagonal"):
        lx.linear_solve(nodiag, jnp.ones(10), AMG())
    with pytest.raises(ValueError, match="diagonal"):
        AMG().setup(nodiag)


@pytest.mark.parametrize("dtype", [jnp.float64, jnp.float32, jnp.complex128])
def test_native_matvec_matches_jax(dtype):
    a = sp.random(40, 30, 0.2, random_state=1, format="csr")
    a.sort_indices()
    rows = np.repeat(np.arange(40), np.diff(a.indptr)).astype(np.int32)
    c = Csr(jnp.asarray(a.indptr, jnp.int32), jnp.asarray(a.indices, jnp.int32), jnp.asarray(rows),
            jnp.asarray(a.data, dtype), 30)
    x = jnp.asarray(np.random.default_rng(0).standard_normal((4, 30)), dtype)
    got = jax.jit(jax.vmap(lambda v: matvec(c, v)))(x)
    np.testing.assert_allclose(got, jax.vmap(lambda v: _jax_matvec(c, v))(x), rtol=1e-5 if dtype == jnp.float32 else 1e-12)
    np.testing.assert_allclose(got[1], a.astype(np.float64) @ np.asarray(x[1]), rtol=1e-5, atol=1e-5)


def test_example_runs():
    env = {**os.environ, "NATIVAX_EXAMPLE_SMALL": "1"}
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "poisson_amg.py"), "--small"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert "converged" in proc.stdout


# ---- AmgX engine: only what runs without a GPU and without AmgX -----------------------------------------


def test_amgx_unavailable_raises_clear_error():
    from nativax._amg import amgx as _amgx

    if _amgx.unavailable_reason() is None:
        pytest.skip("the AmgX engine is available here")
    with pytest.raises(ValueError, match=r"`engine='amgx'` is not available.*AMGX_DIR=.*pip install"):
        AMG(engine="amgx")
    with pytest.raises(ValueError, match="`engine='amgx'` is not available"):
        AMG(engine="amgx", amgx_config={"solver": {"solver": "PCG"}})


def test_amgx_config_validation():
    from nativax._amg import amgx as _amgx

    cfg = {"solver": {"solver": "PCG", "max_iters": 50, "tolerance": 1e-8}}
    canon = _amgx.canonical_config(cfg)
    assert canon == _amgx.canonical_config(
        '{"config_version": 2, "solver": {"tolerance": 1e-8, "max_iters": 50, "solver": "PCG"}}')
    assert _amgx.canonical_config(None) is None
    for bad, msg in (("{bad", "not valid JSON"), ("[1, 2]", "dict or a JSON object"), (3, "dict or a JSON object"),
                     ({"config_version": 1, "solver": {}}, "config_version"), ({"max_iters": 3}, "'solver' entry"),
                     ({"solver": {"tolerance": float("nan")}}, "JSON-serialisable")):
        with pytest.raises(ValueError, match=msg):
            _amgx.canonical_config(bad)
    with pytest.raises(ValueError, match="not valid JSON"):
        AMG(engine="amgx", amgx_config="{bad")
    with pytest.raises(ValueError, match="applies to engine='amgx' only"):
        AMG(amgx_config=cfg)


def test_amgx_default_config_mirrors_fields():
    import json

    from nativax._amg import amgx as _amgx

    kw = dict(method="ruge_stuben", cycle="W", smoother="jacobi", sweeps=2, rtol=1e-6, atol=0.0, max_steps=77,
              max_levels=5, max_coarse=100)
    cfg = json.loads(_amgx.default_config(krylov="gmres", **kw))
    assert cfg["config_version"] == 2
    s = cfg["solver"]
    assert (s["solver"], s["max_iters"], s["tolerance"], s["convergence"]) == ("FGMRES", 77, 1e-6, "RELATIVE_INI_CORE")
    p = s["preconditioner"]
    assert (p["solver"], p["algorithm"], p["cycle"], p["presweeps"], p["max_levels"]) == ("AMG", "CLASSICAL", "W", 2, 5)
    stationary = json.loads(_amgx.default_config(krylov=None, **{**kw, "rtol": 0.0, "atol": 1e-9}))["solver"]
    assert (stationary["solver"], stationary["convergence"], stationary["tolerance"]) == ("AMG", "ABSOLUTE", 1e-9)


def test_amgx_python_wiring_traces(monkeypatch):
    """Trace (never run) the AmgX solve: CSR operands of A / A^T and the transposed flag of the adjoint."""
    from nativax._amg import amgx as _amgx

    monkeypatch.setattr(_amgx, "unavailable_reason", lambda: None)
    a = convection_diffusion(4)
    op = SparseOperator.from_scipy(a)
    solver = AMG(engine="amgx")
    state = solver.init(op, {})
    st, _ = solver.transpose(state, {})
    b = jnp.ones(a.shape[0])
    for s, flag in ((state, 0), (st, 1)):
        jaxpr = jax.make_jaxpr(lambda s, v: solver.compute(s, v, {}))(s, b).jaxpr
        (eqn,) = [e for e in jaxpr.eqns if e.params.get("target_name") == "nativax_amgx_solve"]
        attrs = dict(eqn.params["attributes"])
        assert int(attrs["transposed"]) == flag
        assert '"solver":"FGMRES"' in attrs["config"]  # auto: nonsymmetric -> GMRES
    for transposed, ref in ((False, a), (True, a.T)):
        row_ptr, col_ind, perm = _amgx._csr(op.pattern, transposed)
        vals = np.asarray(op.values) if perm is None else np.asarray(op.values)[perm]
        got = sp.csr_matrix((vals, col_ind, row_ptr), shape=a.shape)
        assert abs(got - ref).max() == 0
    vm = str(jax.make_jaxpr(jax.vmap(lambda v: solver.compute(state, v, {})[0]))(jnp.ones((3, a.shape[0]))))
    assert "nativax_amgx_solve" in vm
