"""SparseOperator + KLU through lx.linear_solve, against dense jnp.linalg and lineax's own LU."""

import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np
import pytest
import scipy.sparse as sp

import nativax

from conftest import random_sparse


@pytest.fixture(params=["real", "complex"])
def op(request):
    a = random_sparse(30, seed=5, complex_=request.param == "complex").tocsr()
    return nativax.SparseOperator.from_scipy(a), a.toarray()


def rhs(n, dtype):
    b = np.linspace(-1, 2, n)
    return jnp.asarray(b + (0.5j * b[::-1] if np.issubdtype(dtype, np.complexfloating) else 0))


def test_solve_matches_lu(op):
    o, a = op
    b = rhs(a.shape[0], a.dtype)
    x = lx.linear_solve(o, b, solver=nativax.KLU()).value
    x_lu = lx.linear_solve(lx.MatrixLinearOperator(jnp.asarray(a)), b, solver=lx.LU()).value
    np.testing.assert_allclose(x, x_lu, rtol=1e-10, atol=1e-12)


def test_operator_basics(op):
    o, a = op
    np.testing.assert_allclose(o.as_matrix(), a)
    v = rhs(a.shape[0], a.dtype)
    np.testing.assert_allclose(o.mv(v), a @ np.asarray(v), rtol=1e-12)
    np.testing.assert_allclose(o.transpose().as_matrix(), a.T)
    np.testing.assert_allclose(o.T.mv(v), a.T @ np.asarray(v), rtol=1e-12)
    np.testing.assert_allclose(lx.conj(o).as_matrix(), a.conj())
    np.testing.assert_allclose(lx.diagonal(o), np.diag(a))
    d, lo, up = lx.tridiagonal(o)
    np.testing.assert_allclose(d, np.diag(a))
    np.testing.assert_allclose(lo, np.diag(a, -1))
    np.testing.assert_allclose(up, np.diag(a, 1))
    assert lx.linearise(o) is o and lx.materialise(o) is o
    assert o.in_structure().shape == (a.shape[1],) and o.out_structure().dtype == o.values.dtype
    np.testing.assert_allclose(o.to_scipy().toarray(), a)
    np.testing.assert_allclose(o.to_bcoo().todense(), a)
    np.testing.assert_allclose(nativax.SparseOperator.from_bcoo(o.to_bcoo()).as_matrix(), a)
    np.testing.assert_allclose(nativax.SparseOperator.from_dense(a).as_matrix(), a)
    assert not lx.is_symmetric(o) and not lx.is_diagonal(o) and not lx.is_positive_semidefinite(o)


def test_structural_predicates_and_tags():
    n = 6
    diag = nativax.SparseOperator.from_scipy(sp.diags(np.arange(1.0, n + 1)))
    tri = nativax.SparseOperator.from_scipy(sp.diags([1.0, 4.0, 2.0], [-1, 0, 1], shape=(n, n)))
    low = nativax.SparseOperator.from_scipy(sp.tril(sp.random(n, n, density=0.5, random_state=0) + sp.eye(n)))
    assert lx.is_diagonal(diag) and lx.is_symmetric(diag) and lx.is_tridiagonal(diag)
    assert lx.is_tridiagonal(tri) and not lx.is_diagonal(tri)
    assert lx.is_lower_triangular(low) and not lx.is_upper_triangular(low)
    spd = nativax.SparseOperator.from_scipy(sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n)), lx.positive_semidefinite_tag)
    assert lx.is_positive_semidefinite(spd) and lx.is_symmetric(spd) and not lx.is_negative_semidefinite(spd)
    assert lx.has_unit_diagonal(nativax.SparseOperator(spd.values, spd.pattern, lx.unit_diagonal_tag))
    assert spd.transpose() is spd


def test_arithmetic_with_lineax_operators(op):
    o, a = op
    n = a.shape[0]
    b = rhs(n, a.dtype)
    combos = [
        (o + lx.IdentityLinearOperator(o.in_structure()), a + np.eye(n)),
        (2.0 * o, 2 * a),
        (o / 4.0, a / 4),
        (-o, -a),
        (o + lx.DiagonalLinearOperator(jnp.arange(n, dtype=o.values.dtype)), a + np.diag(np.arange(n))),
        (o - 0.5 * o, 0.5 * a),
        (lx.TaggedLinearOperator(o, lx.symmetric_tag) if False else o, a),
    ]
    for combo, dense in combos:
        x = lx.linear_solve(combo, b, solver=nativax.KLU()).value
        np.testing.assert_allclose(dense @ np.asarray(x), b, rtol=1e-9, atol=1e-10)


def test_matrix_operator_is_sparsified():
    a = random_sparse(12, seed=9).toarray()
    b = jnp.ones(12)
    x = lx.linear_solve(lx.MatrixLinearOperator(jnp.asarray(a)), b, solver=nativax.KLU()).value
    np.testing.assert_allclose(a @ np.asarray(x), b, rtol=1e-10)
    f = jax.jit(lambda m: lx.linear_solve(lx.MatrixLinearOperator(m), b, solver=nativax.KLU()).value)
    np.testing.assert_allclose(f(jnp.asarray(a)), x, rtol=1e-10)  # traced: full pattern, same answer


def test_tridiagonal_operator():
    n = 10
    d, lo, up = jnp.full(n, 4.0), jnp.ones(n - 1), 2 * jnp.ones(n - 1)
    t = lx.TridiagonalLinearOperator(d, lo, up)
    x = lx.linear_solve(t, jnp.ones(n), solver=nativax.KLU()).value
    np.testing.assert_allclose(t.as_matrix() @ x, np.ones(n), rtol=1e-12)


def test_grad_and_jacfwd_wrt_values_and_rhs(op):
    o, a = op
    n = a.shape[0]
    b = rhs(n, a.dtype)
    w = jnp.arange(1.0, n + 1)

    def loss(values, bb, solver):
        op_ = nativax.SparseOperator(values, o.pattern)
        return jnp.sum(w * jnp.abs(lx.linear_solve(op_, bb, solver=solver).value) ** 2)

    def dense_loss(values, bb):
        m = jnp.zeros((n, n), values.dtype).at[o.pattern.rows, o.pattern.cols].set(values)
        return jnp.sum(w * jnp.abs(jnp.linalg.solve(m, bb)) ** 2)

    g = jax.jit(jax.grad(lambda v, bb: loss(v, bb, nativax.KLU()), argnums=(0, 1)))(o.values, b)
    g_ref = jax.grad(dense_loss, argnums=(0, 1))(o.values, b)
    for x, y in zip(g, g_ref):
        np.testing.assert_allclose(x, y, rtol=1e-8, atol=1e-10)
    if not jnp.iscomplexobj(o.values):
        j = jax.jacfwd(lambda v: loss(v, b, nativax.KLU()))(o.values)
        np.testing.assert_allclose(j, jax.jacfwd(dense_loss)(o.values, b), rtol=1e-8, atol=1e-10)


def test_vmap_over_values_and_rhs(op):
    o, a = op
    n = a.shape[0]
    scales = jnp.array([1.0, 2.0, 0.5])
    bs = jnp.stack([rhs(n, a.dtype) * k for k in (1.0, -1.0, 3.0)])

    def solve(s, bb):
        return lx.linear_solve(nativax.SparseOperator(o.values * jnp.asarray(s, o.values.dtype), o.pattern), bb, solver=nativax.KLU()).value

    xs = jax.jit(jax.vmap(solve))(scales, bs)
    for i in range(3):
        np.testing.assert_allclose(xs[i], np.linalg.solve(a * float(scales[i]), bs[i]), rtol=1e-10)
    xs = jax.vmap(solve, in_axes=(None, 0))(1.0, bs)
    np.testing.assert_allclose(xs[2], np.linalg.solve(a, bs[2]), rtol=1e-10)


def test_transpose_and_conj_solves_reuse_state(op):
    o, a = op
    n = a.shape[0]
    b = rhs(n, a.dtype)
    solver = nativax.KLU()
    state = solver.init(o, {})
    t_state, _ = solver.transpose(state, {})
    c_state, _ = solver.conj(state, {})
    ct_state, _ = solver.conj(t_state, {})
    for st, dense in ((t_state, a.T), (c_state, a.conj()), (ct_state, a.conj().T)):
        x, result, _ = solver.compute(st, b, {})
        assert result == lx.RESULTS.successful
        np.testing.assert_allclose(x, np.linalg.solve(dense, b), rtol=1e-10)
    assert solver.assume_full_rank()


def test_held_factorization_and_frozen_mode(op):
    o, a = op
    n = a.shape[0]
    b = rhs(n, a.dtype)
    solver = nativax.KLU.factor(o)
    np.testing.assert_allclose(lx.linear_solve(o, b, solver=solver).value, np.linalg.solve(a, b), rtol=1e-10)
    f = jax.jit(lambda v: lx.linear_solve(nativax.SparseOperator(v, o.pattern), b, solver=solver).value)
    np.testing.assert_allclose(f(o.values), np.linalg.solve(a, b), rtol=1e-10)
    with pytest.raises(Exception, match="different matrix"):
        jax.block_until_ready(f(o.values * 1.01))  # traced check: never silently the wrong matrix
    with pytest.raises(Exception, match="different matrix"):
        lx.linear_solve(1.01 * o, b, solver=solver)
    frozen = nativax.KLU.factor(o, frozen=True)
    x = lx.linear_solve(nativax.SparseOperator(o.values * 1.01, o.pattern), b, solver=frozen).value
    np.testing.assert_allclose(x, np.linalg.solve(a, b), rtol=1e-10)  # deliberately the held matrix
    analyzed = nativax.KLU().analyze(o.pattern)
    np.testing.assert_allclose(f(o.values), jax.jit(
        lambda v: lx.linear_solve(nativax.SparseOperator(v, o.pattern), b, solver=analyzed).value)(o.values), rtol=1e-12)


def test_float32_operator_without_x64_semantics():
    a = random_sparse(15, seed=3).tocsr().astype(np.float32)
    o = nativax.SparseOperator.from_scipy(a)
    x = lx.linear_solve(o, jnp.ones(15, jnp.float32), solver=nativax.KLU()).value
    assert x.dtype == jnp.float32
    np.testing.assert_allclose(a @ np.asarray(x), np.ones(15), rtol=1e-5)


def test_import_changes_no_global_config():
    import subprocess
    import sys

    code = "import jax; import nativax; print(jax.config.jax_enable_x64)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
