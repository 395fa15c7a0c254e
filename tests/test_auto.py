"""nativax.Auto: the documented choice (engine + reason) once per pattern, and solves through the choice."""

import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np
import pytest
import scipy.sparse as sp

import direct_checks as dc
import nativax

gpl = pytest.mark.skipif(not (nativax.has_cholmod and nativax.has_umfpack), reason="KLU-only build")


def poisson2d(m: int) -> sp.coo_matrix:
    t = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(m, m))
    return (sp.kron(sp.eye(m), t) + sp.kron(t, sp.eye(m))).tocoo()


def convection2d(m: int) -> sp.coo_matrix:
    """Nonsymmetric 2-D convection-diffusion (upwind): fill like a mesh, no BTF structure."""
    t = sp.diags([-1.3, 2.6, -0.7], [-1, 0, 1], shape=(m, m))
    return (sp.kron(sp.eye(m), t) + sp.kron(t, sp.eye(m))).tocoo()


def block_diagonal(blocks: int, size: int) -> sp.coo_matrix:
    rng = np.random.default_rng(0)
    return sp.block_diag([sp.random(size, size, density=0.5, random_state=rng) + 4 * sp.eye(size) for _ in range(blocks)]).tocoo()


@gpl
def test_psd_tag_chooses_cholmod():
    op = dc.operator(poisson2d(30), tags=lx.positive_semidefinite_tag)
    solver, reason = nativax.Auto().choose(op)
    assert isinstance(solver, nativax.CHOLMOD) and "positive" in reason


@gpl
def test_circuit_like_chooses_klu_and_mesh_chooses_umfpack():
    solver, reason = nativax.Auto().choose(dc.operator(block_diagonal(40, 5)))
    assert isinstance(solver, nativax.KLU) and "BTF" in reason
    solver, reason = nativax.Auto().choose(dc.operator(convection2d(60)))
    assert isinstance(solver, nativax.UMFPACK) and "fill" in reason
    # untagged symmetric: no PD promise, so an LU engine
    solver, _ = nativax.Auto().choose(dc.operator(poisson2d(60)))
    assert not isinstance(solver, nativax.CHOLMOD)


def test_solves_match_dense_under_jit_and_grad():
    a = convection2d(12)
    op = dc.operator(a)
    d = a.toarray()
    b = jnp.linspace(0.0, 1.0, d.shape[0])
    np.testing.assert_allclose(dc.solve(nativax.Auto(), op, b), np.linalg.solve(d, b), rtol=1e-9)

    def f(v):
        return jnp.sum(lx.linear_solve(nativax.SparseOperator(v, op.pattern), b, solver=nativax.Auto()).value ** 2)

    g = jax.jit(jax.grad(f))(op.values)
    gd = jax.grad(lambda m: jnp.sum(jnp.linalg.solve(m, b) ** 2))(jnp.asarray(d))[op.pattern.rows, op.pattern.cols]
    np.testing.assert_allclose(g, gd, rtol=1e-8)
    pd = dc.operator(poisson2d(10), tags=lx.positive_semidefinite_tag)
    np.testing.assert_allclose(dc.solve(nativax.Auto(), pd, b[:100]), np.linalg.solve(poisson2d(10).toarray(), b[:100]), rtol=1e-9)


def test_decision_is_made_once_per_pattern(monkeypatch):
    op = dc.operator(convection2d(15))
    auto = nativax.Auto()
    first = auto.choose(op)
    calls = []
    monkeypatch.setattr(type(auto), "_decide", lambda self, *a: calls.append(a) or ("klu", "x"))
    again = auto.choose(nativax.SparseOperator(op.values * 2, op.pattern))
    assert calls == [] and type(again[0]) is type(first[0]) and again[1] == first[1]


def test_bad_input():
    with pytest.raises(ValueError, match="square"):
        nativax.Auto().choose(nativax.SparseOperator.from_coo([0, 1], [0, 2], [1.0, 1.0], (2, 3)))
