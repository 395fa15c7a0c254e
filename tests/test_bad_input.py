"""Bad input gets a clear Python exception naming the argument (or a documented lx.RESULTS code) —
never a crash, never a silently wrong answer."""

import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np
import pytest
import scipy.sparse as sp

import nativax
from nativax import klu

R = np.array([0, 1, 2, 0])
C = np.array([0, 1, 2, 2])
V = np.array([2.0, 3.0, 4.0, 1.0])
B = np.ones(3)


@pytest.mark.parametrize(
    "rows,cols,match",
    [
        (np.array([0, 1, 3, 0]), C, "rows"),
        (R, np.array([0, 1, 2, 5]), "cols"),
        (np.array([0, -1, 2, 0]), C, "rows"),
        (R, np.array([0, 1, -2, 0]), "cols"),
    ],
)
def test_out_of_range_indices(rows, cols, match):
    with pytest.raises(ValueError, match=match):
        klu.solve(rows, cols, V, B)
    with pytest.raises(ValueError, match=match):
        klu.dot(rows, cols, V, B)
    with pytest.raises(ValueError, match=match):
        nativax.SparseOperator.from_coo(rows, cols, V, (3, 3))


def test_out_of_range_traced_indices_error_natively():
    f = jax.jit(lambda r, c: klu.solve(r, c, V, B))
    with pytest.raises(Exception, match="out of range"):
        jax.block_until_ready(f(np.array([0, 1, 7, 0], np.int32), C.astype(np.int32)))


def test_index_dtype_and_shape():
    with pytest.raises(TypeError, match="rows"):
        klu.solve(R.astype(float), C, V, B)
    with pytest.raises(ValueError, match="same length"):
        klu.solve(R[:3], C, V, B)
    with pytest.raises(ValueError, match="1-D"):
        klu.solve(R[None], C[None], V, B)


def test_values_and_rhs_shapes():
    with pytest.raises(ValueError, match="values"):
        klu.solve(R, C, V[:3], B)
    with pytest.raises(ValueError, match="values"):
        klu.solve(R, C, V[None, None], B)
    with pytest.raises(ValueError, match="b"):
        klu.solve(R, C, V, np.ones((2, 3, 1, 1)))
    with pytest.raises(ValueError, match="n_lhs"):
        klu.solve(R, C, np.stack([V, V]), np.ones((3, 3)))


def test_dtypes():
    with pytest.raises(TypeError, match="values"):
        klu.solve(R, C, V.astype(bool), B)
    with pytest.raises(TypeError, match="b"):
        klu.solve(R, C, V, B.astype(bool))


def test_nan_values_and_rhs_raise():
    with pytest.raises(Exception, match="values.*NaN"):
        jax.block_until_ready(klu.solve(R, C, np.array([np.nan, 3.0, 4.0, 1.0]), B))
    with pytest.raises(Exception, match="b.*NaN"):
        jax.block_until_ready(klu.solve(R, C, V, np.array([1.0, np.inf, 0.0])))
    sym = klu.analyze(R, C)
    with pytest.raises(ValueError, match="NaN"):
        klu.factor(sym, np.array([np.nan, 3.0, 4.0, 1.0]))
    sym.close()


def test_singular_matrices():
    # numerically singular
    with pytest.raises(Exception, match="singular"):
        jax.block_until_ready(klu.solve(R, C, np.array([2.0, 0.0, 4.0, 1.0]), B))
    # structurally singular (empty column)
    with pytest.raises(Exception, match="singular"):
        jax.block_until_ready(klu.solve(np.array([0, 2]), np.array([0, 2]), np.array([1.0, 1.0]), B))
    op = nativax.SparseOperator.from_coo(R, C, np.array([2.0, 0.0, 4.0, 1.0]), (3, 3))
    sol = lx.linear_solve(op, jnp.asarray(B), solver=nativax.KLU(), throw=False)
    assert sol.result == lx.RESULTS.singular
    assert np.all(np.isnan(sol.value))
    with pytest.raises(Exception, match="singular|Singular"):
        lx.linear_solve(op, jnp.asarray(B), solver=nativax.KLU())


def test_nonfinite_through_lineax_is_a_result_code():
    op = nativax.SparseOperator.from_coo(R, C, np.array([np.nan, 3.0, 4.0, 1.0]), (3, 3))
    sol = lx.linear_solve(op, jnp.asarray(B), solver=nativax.KLU(), throw=False)
    assert sol.result == lx.RESULTS.nonfinite_input


def test_empty_and_n1():
    x = klu.solve(np.array([0]), np.array([0]), np.array([4.0]), np.array([2.0]))
    np.testing.assert_allclose(x, [0.5])
    with pytest.raises(ValueError, match="empty"):
        klu.solve(np.array([], int), np.array([], int), np.array([]), np.array([]))


def test_sparse_operator_construction_errors():
    pattern, _ = nativax.SparsityPattern.from_coo(R, C, (3, 3))
    with pytest.raises(ValueError, match="values"):
        nativax.SparseOperator(np.ones(3), pattern)
    with pytest.raises(TypeError, match="pattern"):
        nativax.SparseOperator(np.ones(4), "not a pattern")
    with pytest.raises(TypeError, match="matrix"):
        nativax.SparseOperator.from_scipy(np.eye(3))
    with pytest.raises(ValueError, match="square"):
        lx.linear_solve(nativax.SparseOperator.from_scipy(sp.random(3, 4, density=0.5)), jnp.ones(3), solver=nativax.KLU())
    with pytest.raises(ValueError, match="shape"):
        nativax.SparseOperator.from_coo(R, C, V, (3,))


def test_handle_mismatches():
    sym = klu.analyze(R, C)
    with pytest.raises(ValueError, match="values"):
        klu.factor(sym, np.ones(5))
    with pytest.raises(TypeError, match="SymbolicHandle"):
        klu.factor("nope", V)
    num = klu.factor(sym, V)
    with pytest.raises(TypeError, match="complex"):
        klu.refactor(num, V.astype(complex))
    with pytest.raises(ValueError, match="rows"):
        klu.solve_with_numeric(num, np.ones(4))
    with pytest.raises(ValueError, match="rows"):
        klu.solve_with_symbolic(sym, V, np.ones(5))
    # a handle of another pattern held by the lineax solver
    other = nativax.SparseOperator.from_coo(np.array([0, 1, 2]), np.array([0, 1, 2]), np.ones(3), (3, 3))
    solver = nativax.KLU.factor(nativax.SparseOperator.from_coo(R, C, V, (3, 3)))
    with pytest.raises(ValueError, match="pattern"):
        lx.linear_solve(other, jnp.ones(3), solver=solver)
    num.close()
    sym.close()
