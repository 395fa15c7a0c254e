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
    # A 0 x 0 system solves to the empty solution (lineax's convention, issue 20).
    assert klu.solve(np.array([], int), np.array([], int), np.array([]), np.array([])).shape == (0,)


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


# ---- issue 7: more bad input, lifetimes, and regressions ----------------------------------------------------


def test_matrix_without_entries_is_singular_not_an_internal_error():
    # Regression: an n x n matrix with no stored entries used to fail inside klu_analyze ("KLU analyze failed
    # (status -3)", an opaque INVALID_ARGUMENT even with throw=False). It is structurally singular.
    # (native/klu/factorization.cc; needs the extension rebuilt from this tree.)
    empty = np.array([], np.int32)
    with pytest.raises(Exception, match="singular"):
        jax.block_until_ready(klu.solve(empty, empty, np.array([]), np.ones(3)))
    op = nativax.SparseOperator.from_coo(empty, empty, np.array([]), (3, 3))
    sol = lx.linear_solve(op, jnp.ones(3), solver=nativax.KLU(), throw=False)
    assert sol.result == lx.RESULTS.singular
    assert np.all(np.isnan(sol.value))
    sym = klu.analyze(empty, empty, n=2)
    with pytest.raises(nativax.SingularMatrixError):
        klu.factor(sym, np.array([]))
    sym.close()


def test_pattern_shape_beyond_int32_is_rejected():
    # Regression: indices are stored as int32, so a huge shape used to wrap row 3e9 to a negative index.
    with pytest.raises(ValueError, match="32-bit"):
        nativax.SparsityPattern.from_coo(np.array([3_000_000_000]), np.array([0]), (4_000_000_000, 1))
    with pytest.raises(ValueError, match="32-bit"):
        nativax.SparseOperator.from_coo(np.array([0]), np.array([0]), np.ones(1), (1, 2**31))
    p, _ = nativax.SparsityPattern.from_coo(np.array([2**31 - 2]), np.array([0]), (2**31 - 1, 1))
    assert int(p.rows[0]) == 2**31 - 2


def test_indices_beyond_int32_and_bad_index_types():
    with pytest.raises(ValueError, match="32-bit"):
        klu.solve(np.array([2**40], np.int64), np.array([0]), np.ones(1), np.ones(1))
    with pytest.raises(TypeError, match="rows"):
        klu.solve(np.array([True, False, True, False]), C, V, B)
    with pytest.raises(TypeError, match="rows"):
        nativax.SparsityPattern.from_coo(np.array([0.0, 1.0]), np.array([0, 1]), (2, 2))
    with pytest.raises(ValueError, match="1-D"):
        nativax.SparsityPattern.from_coo(np.zeros((2, 1), int), np.zeros((2, 1), int), (2, 2))
    with pytest.raises(ValueError, match="differ in length"):
        nativax.SparsityPattern.from_coo(np.array([0, 1]), np.array([0]), (2, 2))
    with pytest.raises(ValueError, match="shape"):
        nativax.SparsityPattern.from_coo(R, C, (3, -1))


def test_vmap_over_the_pattern_is_a_clear_error():
    rows = jnp.array([[0, 1], [1, 0]], jnp.int32)
    f = jax.vmap(lambda r: klu.solve(r, jnp.array([0, 1], jnp.int32), jnp.array([1.0, 2.0]), jnp.ones(2)))
    with pytest.raises(Exception, match="batching .vmap. over `rows` is not supported"):
        jax.block_until_ready(f(rows))


def test_nonfinite_rhs_through_lineax_is_a_result_code():
    op = nativax.SparseOperator.from_coo(R, C, V, (3, 3))
    for bad in (np.nan, np.inf, -np.inf):
        sol = lx.linear_solve(op, jnp.array([1.0, bad, 0.0]), solver=nativax.KLU(), throw=False)
        assert sol.result == lx.RESULTS.nonfinite_input
        assert np.all(np.isnan(sol.value))
    with pytest.raises(Exception, match="b.*NaN or Inf"):
        jax.block_until_ready(klu.solve_with_numeric(klu.factor(klu.analyze(R, C), V), np.array([1.0, np.nan, 0])))


def test_freed_handles_inside_compiled_functions_raise_not_crash():
    """A compiled function keeps a handle's id as a constant: freeing the handle afterwards must turn the next
    call into a clear error (the native side checks the id's generation), never a read of freed memory."""
    op = nativax.SparseOperator.from_coo(R, C, V, (3, 3))
    held = nativax.KLU.factor(op)
    f = jax.jit(lambda b: lx.linear_solve(op, b, solver=held).value)
    np.testing.assert_allclose(f(jnp.ones(3)), np.linalg.solve(np.asarray(op.as_matrix()), np.ones(3)))
    held.numeric.close()
    with pytest.raises(Exception, match="has been freed"):
        jax.block_until_ready(f(jnp.ones(3)))
    # The handle is a runtime operand of the (shared) compiled solve, so a new call reuses that program and
    # the native side reports the freed id.
    with pytest.raises(Exception, match="has been freed"):
        jax.block_until_ready(lx.linear_solve(op, jnp.ones(3), solver=held).value)

    sym = klu.analyze(R, C)
    g = jax.jit(jax.grad(lambda v: klu.solve_with_symbolic(sym, v, jnp.ones(3)).sum()))
    g(jnp.asarray(V))
    nativax.finalize()  # releases every live handle
    assert sym.closed and held.symbolic.closed
    with pytest.raises(Exception, match="has been freed"):
        jax.block_until_ready(g(jnp.asarray(V)))
    sym.close()  # closing after finalize is still a no-op


def test_handle_kinds_cannot_be_confused_and_bogus_ids_are_rejected():
    from nativax._core.native import lib
    from nativax._direct.klu.ffi import solve_numeric, solve_symbolic

    sym = klu.analyze(R, C)
    num = klu.factor(sym, V)
    with pytest.raises(Exception, match="is a KLU symbolic analysis, expected a KLU numeric"):
        jax.block_until_ready(solve_numeric(sym.id, jnp.ones((1, 3, 1)), 0))
    with pytest.raises(Exception, match="is a KLU numeric factorization, expected a KLU symbolic"):
        jax.block_until_ready(solve_symbolic(num.id, jnp.ones((1, 4)), jnp.ones((1, 3, 1)), 0))
    with pytest.raises(Exception, match="mode must be"):
        jax.block_until_ready(solve_numeric(num.id, jnp.ones((1, 3, 1)), 7))
    with pytest.raises(Exception, match="real/complex"):
        jax.block_until_ready(solve_numeric(num.id, jnp.ones((1, 3, 1), jnp.complex128), 0))
    with pytest.raises(Exception, match="numeric"):
        lib.klu_refactor(sym.id, V)
    with pytest.raises(ValueError, match="symbolic"):
        lib.klu_factor(num.id, V)
    for bogus in (0, -1, 2**63 - 1, -(2**63), (123 << 32) | 5):
        assert not lib.handle_alive(bogus)
        assert lib.free_handle(bogus) is False
        with pytest.raises(ValueError):
            lib.handle_info(bogus)
    stale = num.id
    num.close()
    with pytest.raises(Exception, match="has been freed"):
        jax.block_until_ready(solve_numeric(stale, jnp.ones((1, 3, 1)), 0))
    sym.close()


def test_failed_refactor_consumes_the_handle_and_keeps_the_analysis():
    sym = klu.analyze(R, C)
    num = klu.factor(sym, V)
    with pytest.raises(nativax.SingularMatrixError):
        klu.refactor(num, np.array([2.0, 0.0, 4.0, 1.0]))
    assert num.closed
    with pytest.raises(nativax.FreedHandleError):
        klu.solve_with_numeric(num, B)
    with pytest.raises(nativax.FreedHandleError):
        klu.refactor(num, V)
    with pytest.raises(ValueError, match="NaN"):
        klu.refactor(klu.factor(sym, V), np.array([np.nan, 3.0, 4.0, 1.0]))
    fresh = klu.factor(sym, V)  # the symbolic analysis is untouched
    a = np.zeros((3, 3))
    np.add.at(a, (R, C), V)
    np.testing.assert_allclose(klu.solve_with_numeric(fresh, B), np.linalg.solve(a, B))
    fresh.close()
    sym.close()


def test_analyze_and_factor_argument_errors():
    with pytest.raises(ValueError, match="positive"):
        klu.analyze(R, C, n=0)
    with pytest.raises(ValueError, match="positive"):
        klu.analyze(R, C, n=3.0)
    with pytest.raises(ValueError, match="out of range"):
        klu.analyze(R, C, n=2)
    with pytest.raises(ValueError, match="positive"):
        klu.analyze(np.array([], int), np.array([], int))  # n cannot be inferred from no entries
    with pytest.raises(TypeError, match="traced"):
        jax.jit(lambda r: klu.analyze(r, C).n)(R)
    sym = klu.analyze(R, C, n=5)  # entries only in the leading 3 x 3 block: rows 3, 4 are empty
    with pytest.raises(ValueError, match="`b` has 3 rows but the matrix is 5 x 5"):
        klu.solve_with_symbolic(sym, V, np.ones(3))
    with pytest.raises(Exception, match="singular"):
        jax.block_until_ready(klu.solve_with_symbolic(sym, V, np.ones(5)))
    with pytest.raises(ValueError, match=r"shape \(4,\)"):
        klu.factor(sym, V[None])
    with pytest.raises(TypeError, match="values"):
        klu.factor(sym, V.astype(bool))
    with pytest.raises(TypeError, match="values"):
        klu.factor(sym, np.array(["a", "b", "c", "d"]))
    with pytest.raises(TypeError, match="SymbolicHandle"):
        klu.free_symbolic(object())
    with pytest.raises(TypeError, match="NumericHandle"):
        klu.solve_with_numeric(sym, B)
    sym.close()


def test_held_factorization_never_applies_to_other_values():
    op = nativax.SparseOperator.from_coo(R, C, V, (3, 3))
    held = nativax.KLU.factor(op)
    other = nativax.SparseOperator(op.values * 2, op.pattern)
    with pytest.raises(Exception, match="different matrix"):
        lx.linear_solve(other, jnp.ones(3), solver=held)
    f = jax.jit(lambda v: lx.linear_solve(nativax.SparseOperator(v, op.pattern), jnp.ones(3), solver=held).value)
    with pytest.raises(Exception, match="different matrix"):
        jax.block_until_ready(f(op.values * 2))
    np.testing.assert_allclose(f(op.values), np.linalg.solve(np.asarray(op.as_matrix()), np.ones(3)))
    held.numeric.close()
    held.symbolic.close()


def test_dot_and_operator_constructor_errors():
    with pytest.raises(ValueError, match="rows"):
        klu.dot(R, C, V, B, n_rows=2)
    with pytest.raises(ValueError, match="2-D"):
        nativax.SparseOperator.from_dense(np.ones(3))
    pattern, _ = nativax.SparsityPattern.from_coo(R, C, (3, 3))
    with pytest.raises(ValueError, match="pattern"):
        nativax.SparseOperator.from_dense(np.eye(4), pattern=pattern)
    with pytest.raises(TypeError, match="BCOO"):
        nativax.SparseOperator.from_bcoo(np.eye(3))
    with pytest.raises(ValueError, match="mv"):
        nativax.SparseOperator.from_coo(R, C, V, (3, 3)).mv(jnp.ones(4))
    with pytest.raises(ValueError, match="vector"):
        lx.linear_solve(nativax.SparseOperator.from_coo(R, C, V, (3, 3)), jnp.ones(4), solver=nativax.KLU())


# --------------------------------------------------------------- sparsity / distributed


@pytest.mark.parametrize(
    "call,exc,match",
    [
        (lambda: nativax.sparsity.to_sparse_operator(np.eye(3)), TypeError, "operator"),
        (lambda: nativax.sparsity.colors_for(np.eye(3)), TypeError, "pattern"),
        (lambda: nativax.sparsity.jacobian_sparsity(lambda x: x, jnp.ones(3), unroll_budget=-1),
         ValueError, "unroll_budget"),
        (lambda: nativax.sparsity.jacobian_sparsity(lambda x: 2 * x, jnp.ones(3, jnp.int32)), TypeError, "`x`"),
        (lambda: nativax.sparsity.jacobian_sparsity(3, jnp.ones(3)), TypeError, "fn"),
    ],
)
def test_sparsity_bad_arguments(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_sparsity_known_pattern_of_wrong_shape():
    op = lx.FunctionLinearOperator(lambda v: 2 * v, jax.ShapeDtypeStruct((4,), jnp.float64))
    wrong, _ = nativax.SparsityPattern.from_coo(np.arange(3), np.arange(3), (3, 3))
    with pytest.raises(ValueError, match="pattern"):
        nativax.sparsity.to_sparse_operator(op, wrong)


def test_distributed_empty_and_nonfinite_rhs():
    with pytest.raises(ValueError, match="empty"):
        nativax.distributed.potri(jnp.zeros((0, 0)))
    a = 2.0 * jnp.eye(8)
    x, status = nativax.distributed.potrs(a, jnp.ones(8).at[3].set(jnp.nan), tile=4, return_status=True)
    assert int(status) != 0 and bool(jnp.isnan(x).all())
    x, status = nativax.distributed.potrs(a, jnp.ones(8), tile=4, return_status=True)
    assert int(status) == 0
    np.testing.assert_allclose(x, 0.5 * np.ones(8))


def test_overflowing_solution_is_reported_singular():
    """Finite A and b whose tiny pivots overflow x to Inf (found by fuzzing): singular, never Inf returned."""
    rows = np.array([0, 2, 0, 1, 2])
    cols = np.array([0, 0, 0, 1, 2])
    vals = np.array([0.0, 1.0, 9.09115694e-214, 1.0, 1.87475852e-173])
    b = np.array([1.0, 0.0, 0.0])
    with pytest.raises(Exception, match="singular"):
        jax.block_until_ready(klu.solve(rows, cols, vals, b))
    op = nativax.SparseOperator.from_coo(rows, cols, vals, (3, 3))
    sol = lx.linear_solve(op, jnp.asarray(b), solver=nativax.KLU(), throw=False)
    assert sol.result == lx.RESULTS.singular
    assert bool(jnp.isnan(sol.value).all())
