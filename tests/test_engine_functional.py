"""nativax.cholmod / nativax.umfpack: the functional and handle API bound to each GPL engine (dense references,
jit/vmap/grad, handles, wrong-engine handles, bad input)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse as sp

import direct_checks as dc
import nativax

from conftest import random_sparse

MODULES = [
    pytest.param(nativax.cholmod, marks=pytest.mark.skipif(not nativax.has_cholmod, reason="no CHOLMOD in this build")),
    pytest.param(nativax.umfpack, marks=pytest.mark.skipif(not nativax.has_umfpack, reason="no UMFPACK in this build")),
]


def _matrix(mod, n, seed, complex_=False):
    return dc.spd(n, seed=seed, complex_=complex_) if mod is nativax.cholmod else random_sparse(n, seed=seed, complex_=complex_)


@pytest.mark.parametrize("mod", MODULES)
@pytest.mark.parametrize("complex_", [False, True])
def test_solve_dense_reference_jit_vmap_grad(mod, complex_):
    a = _matrix(mod, 24, 1, complex_)
    d = a.toarray()
    rng = np.random.default_rng(0)
    b = rng.standard_normal(24) + (1j * rng.standard_normal(24) if complex_ else 0)
    rows, cols, vals = jnp.asarray(a.row), jnp.asarray(a.col), jnp.asarray(a.data)
    np.testing.assert_allclose(mod.solve(rows, cols, vals, b), np.linalg.solve(d, b), rtol=1e-10)
    np.testing.assert_allclose(mod.solve(rows, cols, vals, b, transpose=True), np.linalg.solve(d.T, b), rtol=1e-10)
    x = jax.jit(lambda v, b: mod.solve(rows, cols, v, b))(vals, b)
    np.testing.assert_allclose(x, np.linalg.solve(d, b), rtol=1e-10)
    bs = np.stack([b, 2 * b, -b])
    xs = jax.vmap(lambda bb: mod.solve(rows, cols, vals, bb))(bs)
    np.testing.assert_allclose(xs, np.linalg.solve(d, bs.T).T, rtol=1e-10)
    if not complex_:
        def loss(v):
            return jnp.sum(mod.solve(rows, cols, v, b) ** 2)

        def dense_loss(v):
            m = jnp.zeros((24, 24)).at[rows, cols].add(v)
            return jnp.sum(jnp.linalg.solve(m, b) ** 2)

        np.testing.assert_allclose(jax.grad(loss)(vals), jax.grad(dense_loss)(vals), rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("mod", MODULES)
def test_handles_factor_refactor_solve(mod):
    a = _matrix(mod, 20, 2)
    b = np.arange(20.0)
    sym = mod.analyze(a.row, a.col, 20)
    num = mod.factor(sym, a.data)
    np.testing.assert_allclose(mod.solve_with_numeric(num, b), np.linalg.solve(a.toarray(), b), rtol=1e-10)
    num2 = mod.refactor(num, 2.0 * a.data)
    with pytest.raises(nativax.FreedHandleError):
        mod.solve_with_numeric(num, b)
    np.testing.assert_allclose(mod.solve_with_numeric(num2, b), np.linalg.solve(2.0 * a.toarray(), b), rtol=1e-10)
    np.testing.assert_allclose(mod.solve_with_symbolic(sym, 3.0 * a.data, b), np.linalg.solve(3 * a.toarray(), b),
                               rtol=1e-10)
    mod.free_numeric(num2)
    mod.free_numeric(num2)  # idempotent
    mod.free_symbolic(sym)
    with pytest.raises(nativax.FreedHandleError):
        mod.factor(sym, a.data)
    with pytest.raises(TypeError, match="free_numeric: expected a NumericHandle"):
        mod.free_numeric(sym)


@pytest.mark.parametrize("mod", MODULES)
def test_a_klu_handle_is_refused(mod):
    a = _matrix(mod, 10, 3)
    sym = nativax.klu.analyze(a.row, a.col, 10)
    with pytest.raises(TypeError, match=r"factor: `symbolic` is a KLU handle, expected a (CHOLMOD|UMFPACK) one"):
        mod.factor(sym, a.data)


@pytest.mark.parametrize("mod", MODULES)
def test_bad_input_names_the_argument(mod):
    a = _matrix(mod, 10, 4)
    with pytest.raises(ValueError, match=r"`rows`.*out of range|rows.*range"):
        mod.solve(np.r_[a.row[:-1], 10], a.col, a.data, np.ones(10))
    with pytest.raises(ValueError, match="values"):
        mod.solve(a.row, a.col, a.data[:-1], np.ones(10))
    sym = mod.analyze(a.row, a.col, 10)
    with pytest.raises(ValueError, match=r"`values` must have shape \(\d+,\)"):
        mod.factor(sym, a.data[:-1])


@pytest.mark.skipif(not nativax.has_cholmod, reason="no CHOLMOD in this build")
def test_cholmod_rejects_indefinite_matrix():
    a = dc.spd(12, seed=5)
    d = a.toarray()
    d[0, 0] = -abs(d).sum()  # symmetric, not positive definite
    m = sp.coo_matrix(d)
    sym = nativax.cholmod.analyze(m.row, m.col, 12)
    with pytest.raises(nativax.SingularMatrixError, match="not positive definite"):
        nativax.cholmod.factor(sym, m.data)
    with pytest.raises(Exception, match="positive definite|singular"):
        nativax.cholmod.solve(m.row, m.col, m.data, np.ones(12))
