"""nativax.CHOLMOD and nativax.logdet: dense references (real/complex), jit/vmap/grad/jacfwd, logdet and its
gradient against jnp.linalg.slogdet, non-PD and nonsymmetric input, handles, caches, threads, bad input."""

import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np
import pytest

import direct_checks as dc
import nativax

pytestmark = pytest.mark.skipif(not nativax.has_cholmod, reason="this build has no CHOLMOD (NATIVAX_GPL=OFF)")


@pytest.mark.parametrize("complex_", [False, True])
def test_dense_reference_transpose_and_autodiff(complex_):
    a = dc.spd(30, seed=1, complex_=complex_)
    rng = np.random.default_rng(0)
    dc.check_dense_reference(nativax.CHOLMOD, a, rng)
    dc.check_transpose(nativax.CHOLMOD, a, rng)
    dc.check_jit_vmap_grad(nativax.CHOLMOD, a)


def test_supernodal_factor_on_a_mesh():
    # 2-D Poisson 40 x 40: large enough for CHOLMOD to choose a supernodal factor.
    import scipy.sparse as sp

    m = 40
    t = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(m, m))
    a = (sp.kron(sp.eye(m), t) + sp.kron(t, sp.eye(m))).tocoo()
    b = np.random.default_rng(1).standard_normal(m * m)
    x = dc.solve(nativax.CHOLMOD(), dc.operator(a), b)
    np.testing.assert_allclose(a @ np.asarray(x), b, atol=1e-9)
    np.testing.assert_allclose(nativax.logdet(dc.operator(a)), np.linalg.slogdet(a.toarray())[1], rtol=1e-10)


def test_grad_uses_one_factorization():
    dc.check_one_factorization_for_grad(nativax.CHOLMOD, dc.spd(25, seed=4), "cholmod")


def test_handles_and_lifetime():
    dc.check_handles(nativax.CHOLMOD, dc.spd(20, seed=5), "cholmod")


def test_cache_hit_and_evict():
    dc.check_cache_hit_evict(nativax.CHOLMOD, dc.spd(20, seed=6), "cholmod")


def test_threads():
    dc.check_threads(nativax.CHOLMOD, [dc.spd(40, seed=s) for s in range(4)])


def test_bad_input():
    dc.check_bad_input(nativax.CHOLMOD, dc.spd(10, seed=7))


@pytest.mark.parametrize("complex_", [False, True])
def test_logdet_and_gradient_match_slogdet(complex_):
    a = dc.spd(25, seed=8, complex_=complex_)
    op = dc.operator(a)
    d = jnp.asarray(a.toarray())
    np.testing.assert_allclose(nativax.logdet(op), jnp.linalg.slogdet(d)[1], rtol=1e-12)

    def ours(v):
        return nativax.logdet(nativax.SparseOperator(v, op.pattern))

    def dense(m):
        return jnp.linalg.slogdet(m)[1]

    p = op.pattern
    g = jax.grad(ours)(op.values)
    gd = jax.grad(dense)(d)[p.rows, p.cols]
    np.testing.assert_allclose(g, gd, rtol=1e-9, atol=1e-12)
    # forward mode and jit agree with reverse mode
    t = jnp.asarray(np.random.default_rng(0).standard_normal(p.nnz)).astype(op.values.dtype)
    _, jv = jax.jvp(jax.jit(ours), (op.values,), (t,))
    _, jvd = jax.jvp(dense, (d,), (jnp.zeros_like(d).at[p.rows, p.cols].add(t),))
    np.testing.assert_allclose(jv, jvd, rtol=1e-9)


def test_logdet_vmap_and_shares_the_solve_factorization():
    a = dc.spd(20, seed=9)
    op = dc.operator(a)
    scales = jnp.array([1.0, 2.0, 4.0])
    lds = jax.vmap(lambda s: nativax.logdet(nativax.SparseOperator(op.values * s, op.pattern)))(scales)
    ref = [np.linalg.slogdet(a.toarray() * float(s))[1] for s in scales]
    np.testing.assert_allclose(lds, ref, rtol=1e-12)
    v = op.values * 1.618
    nativax.reset_cache_counters()
    lx.linear_solve(nativax.SparseOperator(v, op.pattern), jnp.ones(20), solver=nativax.CHOLMOD())
    nativax.logdet(nativax.SparseOperator(v, op.pattern))
    info = nativax.cache_info()["cholmod"]
    assert info["factorizations"] == 1 and info["numeric"]["hits"] == 1


def test_not_positive_definite_is_singular_with_a_clear_message():
    a = dc.spd(10, seed=10).toarray()
    a[3, 3] = -50.0  # symmetric indefinite
    op = nativax.SparseOperator.from_dense(jnp.asarray(a))
    res = lx.linear_solve(op, jnp.ones(10), solver=nativax.CHOLMOD(), throw=False)
    assert res.result == lx.RESULTS.singular
    with pytest.raises(Exception, match="singular"):
        lx.linear_solve(op, jnp.ones(10), solver=nativax.CHOLMOD())
    with pytest.raises(Exception, match="not positive definite"):
        nativax.logdet(op)
    with pytest.raises(nativax.SingularMatrixError, match="not positive definite"):
        nativax.CHOLMOD.factor(op)


def test_nonsymmetric_values_and_pattern_are_refused():
    a = dc.spd(10, seed=11).toarray()
    i, j = np.argwhere((a != 0) & ~np.eye(10, dtype=bool))[0]
    a[i, j] += 0.5  # same pattern, values no longer symmetric
    op = nativax.SparseOperator.from_dense(jnp.asarray(a))
    res = lx.linear_solve(op, jnp.ones(10), solver=nativax.CHOLMOD(), throw=False)
    assert res.result == lx.RESULTS.singular
    with pytest.raises(nativax.SingularMatrixError, match="not symmetric"):
        nativax.CHOLMOD.factor(op)
    with pytest.raises(Exception, match="not symmetric"):
        nativax.logdet(op)
    tri = nativax.SparseOperator.from_dense(jnp.triu(jnp.asarray(dc.spd(10, seed=12).toarray())))
    with pytest.raises(ValueError, match="pattern is not symmetric"):
        lx.linear_solve(tri, jnp.ones(10), solver=nativax.CHOLMOD())


def test_logdet_bad_input():
    with pytest.raises(ValueError, match="square"):
        nativax.logdet(nativax.SparseOperator.from_coo([0, 1], [0, 2], [1.0, 1.0], (2, 3)))
    op = dc.operator(dc.spd(5, seed=13))
    bad = np.asarray(op.values).copy()
    bad[0] = np.inf
    with pytest.raises(Exception, match="NaN or Inf"):
        nativax.logdet(nativax.SparseOperator(bad, op.pattern))
