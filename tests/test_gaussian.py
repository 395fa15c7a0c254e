"""nativax.gaussian: selected inversion (supernodal and simplicial factors, real and complex) against dense
inverses, marginal variances, jit/vmap, the logdet gradient through it, sampling statistics with a fixed key,
solves with the factor's pieces, held-factor log det, rank-k update/downdate against refactorization, handle
lifetime and bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse as sp

import direct_checks as dc
import nativax
from nativax import gaussian as G

pytestmark = pytest.mark.skipif(not nativax.has_cholmod, reason="this build has no CHOLMOD (NATIVAX_GPL=OFF)")


def grid3(m: int, complex_: bool = False, seed: int = 0) -> sp.coo_matrix:
    """7-point 3-D operator with random SPD values: large enough for CHOLMOD to pick a supernodal factor."""
    t = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(m, m))
    e = sp.eye(m)
    a = (sp.kron(sp.kron(t, e), e) + sp.kron(sp.kron(e, t), e) + sp.kron(sp.kron(e, e), t)).tocoo()
    rng = np.random.default_rng(seed)
    off = a.row != a.col
    v = a.data.copy()
    w = rng.uniform(0.5, 1.5, size=v.shape) * (1 + 0.5j * rng.standard_normal(v.shape) if complex_ else 1)
    v = np.where(off, v * w, v)
    b = sp.coo_matrix((v, (a.row, a.col)), shape=a.shape)
    h = (b + b.conj().T) / 2
    h = h - sp.diags(h.diagonal()) + sp.diags(np.abs(h - sp.diags(h.diagonal())).sum(axis=1).A1 + 0.3)
    return h.tocoo()


def tridiag(n: int) -> sp.coo_matrix:
    """A very sparse SPD matrix: CHOLMOD keeps a simplicial factor."""
    return sp.diags([-1.0, 2.5, -1.0], [-1, 0, 1], shape=(n, n)).tocoo()


CASES = [("grid3", False), ("grid3", True), ("tridiag", False), ("random", True)]


def matrix(kind: str, complex_: bool) -> sp.coo_matrix:
    if kind == "grid3":
        return grid3(7, complex_)
    if kind == "tridiag":
        return tridiag(40)
    return dc.spd(40, seed=3, complex_=complex_)


@pytest.mark.parametrize("kind,complex_", CASES)
def test_selected_inverse_and_diagonal_match_dense(kind, complex_):
    a = matrix(kind, complex_)
    op = dc.operator(a)
    inv = np.linalg.inv(a.toarray())
    s = G.selected_inverse(op)
    p = s.pattern
    assert p == op.pattern
    np.testing.assert_allclose(np.asarray(s.values), inv[p.rows, p.cols], rtol=1e-9, atol=1e-12)
    d = G.marginal_variances(op)
    assert d.dtype == jnp.float64
    np.testing.assert_allclose(np.asarray(d), np.real(np.diag(inv)), rtol=1e-10)
    # the same from a held factorization
    sym = nativax.cholmod.analyze(p.rows, p.cols, p.shape[0])
    with nativax.cholmod.factor(sym, np.asarray(op.values)) as num:
        np.testing.assert_allclose(np.asarray(G.selected_inverse(num).values), inv[p.rows, p.cols], rtol=1e-9,
                                   atol=1e-12)
        np.testing.assert_allclose(np.asarray(G.marginal_variances(num)), np.real(np.diag(inv)), rtol=1e-10)
        np.testing.assert_allclose(float(nativax.logdet(num)), np.linalg.slogdet(a.toarray())[1], rtol=1e-10)


def test_jit_vmap_and_logdet_gradient_on_supernodal_factor():
    a = grid3(6)
    op = dc.operator(a)
    pat = op.pattern
    scales = jnp.array([1.0, 1.7, 3.0])
    vals = scales[:, None] * op.values[None]
    diag = jax.jit(jax.vmap(lambda v: G.marginal_variances(nativax.SparseOperator(v, pat))))(vals)
    ref = np.real(np.diag(np.linalg.inv(a.toarray())))
    np.testing.assert_allclose(np.asarray(diag), ref[None] / np.asarray(scales)[:, None], rtol=1e-10)
    dense = jnp.zeros(pat.shape).at[pat.rows, pat.cols].set(op.values)
    g = jax.grad(lambda v: nativax.logdet(nativax.SparseOperator(v, pat)))(op.values)
    g_ref = jax.grad(lambda v: jnp.linalg.slogdet(jnp.zeros(pat.shape).at[pat.rows, pat.cols].set(v))[1])(op.values)
    np.testing.assert_allclose(np.asarray(g), np.asarray(g_ref), rtol=1e-9, atol=1e-13)
    assert float(nativax.logdet(op)) == pytest.approx(float(jnp.linalg.slogdet(dense)[1]), rel=1e-12)


def test_selected_inverse_is_not_differentiable_wrt_values():
    op = dc.operator(grid3(4))
    with pytest.raises(NotImplementedError, match="not differentiable"):
        jax.grad(lambda v: jnp.sum(G.marginal_variances(nativax.SparseOperator(v, op.pattern))))(op.values)
    with pytest.raises(NotImplementedError, match="not differentiable"):
        jax.jvp(lambda v: G.selected_inverse(nativax.SparseOperator(v, op.pattern)).values, (op.values,),
                (op.values,))


@pytest.mark.parametrize("held", [False, True])
def test_sample_statistics_precision_and_covariance(held):
    a = grid3(3, seed=2)  # n = 27
    a = (a + sp.diags(np.full(27, 1.0))).tocoo()
    op = dc.operator(a)
    mu = np.linspace(-1, 1, 27)
    key = jax.random.PRNGKey(0)
    draws = 40_000
    if held:
        p = op.pattern
        src = nativax.cholmod.factor(nativax.cholmod.analyze(p.rows, p.cols, 27), np.asarray(op.values))
    else:
        src = op
    x = np.asarray(G.sample(src, key, (draws,), mean=mu))
    assert x.shape == (draws, 27)
    cov = np.linalg.inv(a.toarray())
    # sample mean within 5 standard errors; covariance entries within 5 standard errors (Gaussian 4th moments)
    se_mean = np.sqrt(np.diag(cov) / draws)
    assert np.all(np.abs(x.mean(0) - mu) < 5 * se_mean)
    emp = np.cov(x.T)
    se_cov = np.sqrt((cov**2 + np.outer(np.diag(cov), np.diag(cov))) / draws)
    assert np.all(np.abs(emp - cov) < 5 * se_cov)
    # reproducible from the key, and a different key gives different draws
    np.testing.assert_array_equal(np.asarray(G.sample(src, key, (draws,), mean=mu)), x)
    assert not np.allclose(np.asarray(G.sample(src, jax.random.PRNGKey(1), (3,))), x[:3])
    y = np.asarray(G.sample(src, key, (draws,), covariance=True))
    emp = np.cov(y.T)
    ad = a.toarray()
    se_cov = np.sqrt((ad**2 + np.outer(np.diag(ad), np.diag(ad))) / draws)
    assert np.all(np.abs(emp - ad) < 5 * se_cov)
    if held:
        src.close()


def test_sample_jit_vmap_and_gradients():
    op = dc.operator(grid3(3))
    keys = jax.random.split(jax.random.PRNGKey(3), 4)
    f = jax.jit(jax.vmap(lambda k, v: G.sample(nativax.SparseOperator(v, op.pattern), k, (5,)), in_axes=(0, None)))
    x = f(keys, op.values)
    assert x.shape == (4, 5, 27)
    np.testing.assert_allclose(np.asarray(x[1]), np.asarray(G.sample(op, keys[1], (5,))), rtol=1e-12)
    g = jax.grad(lambda m: jnp.sum(G.sample(op, keys[0], (5,), mean=m) ** 2))(jnp.ones(27))
    xs = G.sample(op, keys[0], (5,), mean=jnp.ones(27))
    np.testing.assert_allclose(np.asarray(g), np.asarray(2 * xs.sum(0)), rtol=1e-12)
    with pytest.raises(NotImplementedError, match="not differentiable"):
        jax.grad(lambda v: jnp.sum(G.sample(nativax.SparseOperator(v, op.pattern), keys[0])))(op.values)


def test_complex_samples_have_hermitian_covariance():
    a = matrix("random", True)
    a = (a + sp.diags(np.full(a.shape[0], 5.0))).tocoo()
    x = np.asarray(G.sample(dc.operator(a), jax.random.PRNGKey(7), (30_000,)))
    emp = x.T @ x.conj() / x.shape[0]
    cov = np.linalg.inv(a.toarray())
    np.testing.assert_allclose(emp, cov, atol=6 * np.sqrt(np.max(np.abs(np.diag(cov))) ** 2 / x.shape[0]))


@pytest.mark.parametrize("kind,complex_", [("grid3", False), ("tridiag", False), ("grid3", True)])
def test_factor_pieces_compose_to_the_inverse(kind, complex_):
    a = matrix(kind, complex_)
    op = dc.operator(a)
    p = op.pattern
    rng = np.random.default_rng(0)
    n = p.shape[0]
    b = rng.standard_normal((n, 2)) + (1j * rng.standard_normal((n, 2)) if complex_ else 0)
    with nativax.cholmod.factor(nativax.cholmod.analyze(p.rows, p.cols, n), np.asarray(op.values)) as num:
        y = b
        for s in ("P", "L", "D", "Lt", "Pt"):
            y = G.solve_factor(num, y, s)
        ref = np.linalg.solve(a.toarray(), b)
        np.testing.assert_allclose(np.asarray(y), ref, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(np.asarray(G.solve_factor(num, b, "A")), ref, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(np.asarray(G.solve_factor(num, G.solve_factor(num, b[:, 0], "P"), "Pt")),
                                   b[:, 0], rtol=0, atol=0)
        # reverse mode through the adjoint system: <c, M b> = <M^T c, b>
        c = rng.standard_normal(n) + (1j * rng.standard_normal(n) if complex_ else 0)
        for s in ("L", "Lt", "LD", "DLt", "P", "Pt", "A"):
            mb, vjp = jax.vjp(lambda v, s=s: G.solve_factor(num, v, s), jnp.asarray(b[:, 0]))
            (mtc,) = vjp(jnp.asarray(c))
            np.testing.assert_allclose(np.sum(c * np.asarray(mb)), np.sum(np.asarray(mtc) * b[:, 0]), rtol=1e-9)
        with pytest.raises(ValueError, match="`system` must be one of"):
            G.solve_factor(num, b, "U")
        with pytest.raises(ValueError, match="`b` must have shape"):
            G.solve_factor(num, b[:-1], "L")


def test_update_and_downdate_match_refactorization():
    a = grid3(6, seed=4)
    op = dc.operator(a)
    p = op.pattern
    n = p.shape[0]
    rng = np.random.default_rng(1)
    C = rng.standard_normal((n, 3)) * (rng.random((n, 3)) < 0.2)
    dense = a.toarray()
    sym = nativax.cholmod.analyze(p.rows, p.cols, n)
    num = nativax.cholmod.factor(sym, np.asarray(op.values))
    b = rng.standard_normal(n)
    with G.update(num, C) as up:
        assert isinstance(up, G.UpdatedNumericHandle)
        plus = dense + C @ C.T
        np.testing.assert_allclose(np.asarray(nativax.cholmod.solve_with_numeric(up, b)), np.linalg.solve(plus, b),
                                   rtol=1e-9)
        np.testing.assert_allclose(float(nativax.logdet(up)), np.linalg.slogdet(plus)[1], rtol=1e-11)
        np.testing.assert_allclose(np.asarray(G.marginal_variances(up)), np.diag(np.linalg.inv(plus)), rtol=1e-9)
        inv = np.linalg.inv(plus)
        np.testing.assert_allclose(np.asarray(G.selected_inverse(up).values), inv[p.rows, p.cols], rtol=1e-9,
                                   atol=1e-13)
        x = np.asarray(G.sample(up, jax.random.PRNGKey(0), (20_000,)))  # simplicial L D L^T path
        np.testing.assert_allclose(np.cov(x.T)[:5, :5], inv[:5, :5], atol=0.05 * np.max(np.diag(inv)))
        with G.downdate(up, C) as back:  # (A + C C^T) - C C^T = A
            np.testing.assert_allclose(np.asarray(nativax.cholmod.solve_with_numeric(back, b)),
                                       np.linalg.solve(dense, b), rtol=1e-8)
    # a downdate that makes the matrix indefinite: clear error, the original factorization intact
    big = np.zeros((n, 1))
    big[5, 0] = 10.0
    with pytest.raises(nativax.SingularMatrixError, match="not positive definite"):
        G.downdate(num, big)
    np.testing.assert_allclose(np.asarray(nativax.cholmod.solve_with_numeric(num, b)), np.linalg.solve(dense, b),
                               rtol=1e-9)
    with pytest.raises(ValueError, match="`C` must have shape"):
        G.update(num, C[:-1])
    with pytest.raises(ValueError, match="NaN or Inf"):
        G.update(num, np.full(n, np.nan))
    num.close()
    with pytest.raises(nativax.FreedHandleError):
        G.update(num, C)
    with pytest.raises(nativax.FreedHandleError):
        G.marginal_variances(num)
    with pytest.raises(nativax.FreedHandleError):
        G.solve_factor(num, b, "L")


def test_bad_input():
    a = grid3(4)
    op = dc.operator(a)
    neg = nativax.SparseOperator(-op.values, op.pattern)
    with pytest.raises(Exception, match="not positive definite"):
        np.asarray(G.marginal_variances(neg))
    with pytest.raises(Exception, match="not positive definite"):
        np.asarray(G.sample(neg, jax.random.PRNGKey(0)))
    p = op.pattern
    with nativax.klu.factor(nativax.klu.analyze(p.rows, p.cols, p.shape[0]), np.asarray(op.values)) as klu_num:
        with pytest.raises(TypeError, match="expected CHOLMOD"):
            G.marginal_variances(klu_num)
    with pytest.raises(TypeError, match="`shape` must be a tuple"):
        G.sample(op, jax.random.PRNGKey(0), 5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="`mean` must have shape"):
        G.sample(op, jax.random.PRNGKey(0), mean=jnp.zeros(3))
    with pytest.raises(TypeError, match="NumericHandle"):
        G.update(object(), np.zeros(3))  # type: ignore[arg-type]
    c = dc.operator(matrix("random", True))
    pc = c.pattern
    with nativax.cholmod.factor(nativax.cholmod.analyze(pc.rows, pc.cols, pc.shape[0]), np.asarray(c.values)) as num:
        with pytest.raises(TypeError, match="real only"):
            G.update(num, np.ones(pc.shape[0]))
    ns = np.asarray(op.values).copy()
    ns[np.flatnonzero(op.pattern.rows != op.pattern.cols)[0]] += 0.5
    with pytest.raises(Exception, match="not symmetric"):
        np.asarray(G.selected_inverse(nativax.SparseOperator(jnp.asarray(ns), op.pattern)).values)
