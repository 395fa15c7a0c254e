"""Mistakes that used to give a wrong answer without a word (issue 18): each now errors or warns clearly."""

import os
import subprocess
import sys
import warnings

import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

import nativax
from nativax.sparsity import jacobian_sparsity

N = 30


def _f(u, a):
    return 3 * u - jnp.roll(u, 1) - jnp.roll(u, -1) + 0.1 * u**2


def _missing_wrap_pattern():
    """Tridiagonal without the periodic corners: misses two true entries of `_f`'s Jacobian."""
    i = np.arange(N)
    rows = np.concatenate([i, i[1:], i[:-1]])
    cols = np.concatenate([i, i[:-1], i[1:]])
    return nativax.SparsityPattern.from_coo(rows, cols, (N, N))[0]


def test_given_pattern_is_checked_eager_and_jit():
    y = jnp.linspace(1.0, 2.0, N)
    op = lx.JacobianLinearOperator(_f, y)
    b = jnp.arange(N, dtype=y.dtype)
    good = jacobian_sparsity(lambda u: _f(u, None), y)
    x = lx.linear_solve(op, b, nativax.KLU(pattern=good)).value
    np.testing.assert_allclose(np.asarray(op.mv(x)), np.asarray(b), atol=1e-10)
    bad = _missing_wrap_pattern()
    with pytest.raises(Exception, match="pattern="):
        lx.linear_solve(op, b, nativax.KLU(pattern=bad)).value.block_until_ready()
    with pytest.raises(Exception, match="pattern="):
        jax.jit(lambda b: lx.linear_solve(op, b, nativax.KLU(pattern=bad)).value)(b).block_until_ready()
    with pytest.raises(Exception, match="pattern="):
        nativax.sparsity.to_sparse_operator(op, pattern=bad).values.block_until_ready()


def test_given_pattern_is_checked_for_a_stored_matrix():
    a = np.diag(np.full(N, 4.0)) + np.diag(np.ones(N - 1), 1)
    with pytest.raises(Exception, match="pattern="):
        nativax.as_sparse_operator(lx.MatrixLinearOperator(jnp.asarray(a)),
                                   _diag_only()).values.block_until_ready()


def _diag_only():
    return nativax.SparsityPattern(np.arange(N), np.arange(N), (N, N))


def test_values_in_coo_order_are_rejected():
    rows = np.array([2, 0, 1, 0])
    cols = np.array([0, 0, 1, 2])
    vals = np.array([5.0, 1.0, 2.0, 3.0])  # in the caller's COO order, not CSC
    pattern, where = nativax.SparsityPattern.from_coo(rows, cols, (3, 3))
    # Reordered (no duplicates): values in either order are possible, so it warns, once per pattern.
    with pytest.warns(nativax.ValuesOrderWarning, match="COO order"):
        nativax.SparseOperator(vals, pattern)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nativax.SparseOperator(np.asarray(pattern.rows, float), pattern)
    # Duplicates merged: values of the COO length are in COO order for certain, so it raises.
    dup, _ = nativax.SparsityPattern.from_coo(np.array([1, 0, 1]), np.array([0, 0, 0]), (2, 2))
    with pytest.raises(ValueError, match="COO order"):
        nativax.SparseOperator(np.array([1.0, 2.0, 3.0]), dup)
    # The two right ways agree with scipy.
    dense = sp.coo_matrix((vals, (rows, cols)), shape=(3, 3)).toarray()
    op1 = nativax.SparseOperator.from_coo(rows, cols, vals, (3, 3))
    op2 = nativax.SparseOperator(jnp.zeros(pattern.nnz).at[where].add(vals), pattern)
    np.testing.assert_array_equal(np.asarray(op1.as_matrix()), dense)
    np.testing.assert_array_equal(np.asarray(op2.as_matrix()), dense)
    # A pattern that needed no reordering takes host values as they are.
    canonical, _ = nativax.SparsityPattern.from_coo(np.array([0, 2, 1]), np.array([0, 0, 1]), (3, 3))
    nativax.SparseOperator(np.array([1.0, 2.0, 3.0]), canonical)


_NO_X64 = """
import warnings, numpy as np, scipy.sparse as sp, jax
import nativax
a = sp.csr_matrix(np.array([[1.0, 1.0], [1.0, 1.0 + 2.5e-10]]))
with warnings.catch_warnings(record=True) as w:
    warnings.simplefilter("always")
    nativax.as_sparse_operator(a)
    nativax.SparseOperator.from_dense(np.eye(2))
    nativax.SparseOperator.from_dense(np.eye(2, dtype=np.float32))
msgs = [str(x.message) for x in w if "jax_enable_x64" in str(x.message)]
print(len(msgs), msgs[0][:60] if msgs else "")
"""


def test_float64_truncation_warns_naming_x64():
    env = dict(os.environ, JAX_ENABLE_X64="0", JAX_PLATFORMS="cpu")
    out = subprocess.run([sys.executable, "-c", _NO_X64], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    count, _, text = out.stdout.strip().partition(" ")
    assert count == "2", out.stdout  # the two float64 inputs, not the float32 one
    assert "float64" in text


def test_scipy_matrix_accepted_by_as_sparse_operator():
    rng = np.random.default_rng(0)
    a = (sp.random(N, N, density=0.1, random_state=1) + 4 * sp.eye(N)).tocsr()
    b = rng.standard_normal(N)
    op = nativax.as_sparse_operator(a)
    assert op.pattern.nnz == a.nnz
    x = lx.linear_solve(op, jnp.asarray(b), nativax.KLU()).value
    np.testing.assert_allclose(np.asarray(x), spla.spsolve(a.tocsc(), b), rtol=1e-10)
    with pytest.raises(ValueError, match="pattern"):
        nativax.as_sparse_operator(a, _diag_only())
    with pytest.raises(TypeError, match="scipy.sparse"):
        nativax.as_sparse_operator(np.eye(3))


@pytest.mark.parametrize("solver", [nativax.KLU(), nativax.Auto()], ids=["KLU", "Auto"])
def test_mixed_dtype_pytree_operator_under_strict_promotion(solver, strict_promotion):
    """lineax's own test_mixed_dtypes: float32 and float64 blocks, strict promotion, as lx.LU solves it."""
    f32 = lambda v: jnp.array(v, dtype=jnp.float32)  # noqa: E731
    f64 = lambda v: jnp.array(v, dtype=jnp.float64)  # noqa: E731
    x = [[f32(1), f64(5)], [f32(-2), f64(-2)]]
    y = [f64(3), f64(4)]
    op = lx.PyTreeLinearOperator(x, jax.eval_shape(lambda: y))
    want = lx.linear_solve(op, y, lx.LU()).value
    got = lx.linear_solve(op, y, solver).value
    for g, w in zip(got, want):
        assert g.dtype == w.dtype
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-6)


def test_dense_error_lists_steps_and_remedy(monkeypatch):
    """The "too dense" error (kept for truly dense results) names the conservative steps with their source
    lines and the remedy optimistix/diffrax users can apply."""
    from nativax._sparsity import index_sets

    def fn(u):
        idx = jnp.argsort(u)[:3]  # a truly traced index
        return (2 * u).at[idx].set(u[idx])

    monkeypatch.setattr(index_sets, "MOSTLY_DENSE_MIN_ENTRIES", 100)
    nativax.sparsity.clear_cache()
    with pytest.raises(ValueError, match="100% dense") as err:
        jacobian_sparsity(fn, jnp.linspace(1.0, 2.0, N))
    text = str(err.value)
    assert "scatter" in text and "test_silent_mistakes.py" in text
    assert "KLU(pattern=" in text and "optimistix/diffrax" in text
