"""nativax's solvers under lineax's own solver checks (the style of lineax's tests/test_{solve,vmap,jvp,
transpose,adjoint}.py): for each solver, the operator kinds lineax tests (matrix, function, Jacobian, composed,
added, tagged, negated, scaled; real and complex; pytree in/out structures), under jit, vmap over the operator
and over the vector, jvp, transpose and adjoint, against dense numpy. Small n keeps it fast.

Like lineax's own suite, every test here runs under `jax_numpy_dtype_promotion="strict"` and
`jax_numpy_rank_promotion="raise"` (the `strict_promotion` fixture), in every leg, so the strict leg
(`NATIVAX_STRICT=1 pytest -m strict`) does not need to run it again."""

import functools as ft

import equinox as eqx
import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np
import pytest

import nativax

from conftest import conformance_matrix

pytestmark = pytest.mark.usefixtures("strict_promotion")

N = 12
SPLIT = 5  # pytree structures: leaves of sizes SPLIT and N - SPLIT
SOLVERS = {
    "klu": (nativax.KLU(), False, 1e-10),
    "amg": (nativax.AMG(rtol=1e-13, max_coarse=4), True, 1e-8),
    "cholesky": (nativax.DistributedCholesky(tile=4), True, 1e-10),
}
DTYPES = (np.float64, np.complex128)


def _tags(spd: bool):
    return lx.positive_semidefinite_tag if spd else ()


@ft.cache
def _coo(spd: bool) -> tuple[np.ndarray, np.ndarray]:
    """The structural nonzeros every conformance matrix (and tangent) of this kind shares."""
    return np.nonzero(conformance_matrix(N, np.float64, spd=spd, seed=0))


def _struct(dtype, tree: bool, out: bool = False):
    if not tree:
        return jax.ShapeDtypeStruct((N,), dtype)
    a, b = jax.ShapeDtypeStruct((SPLIT,), dtype), jax.ShapeDtypeStruct((N - SPLIT,), dtype)
    return (a, b) if out else {"a": a, "b": b}


def flat(tree) -> jax.Array:
    """Concatenate the leaves in lineax's order (pytree-leaf order)."""
    return jnp.concatenate([jnp.reshape(x, (-1,)) for x in jax.tree_util.tree_leaves(tree)])


def unflat(vector, structure):
    leaves, treedef = jax.tree_util.tree_flatten(structure)
    cuts = np.cumsum([s.size for s in leaves])[:-1]
    return jax.tree_util.tree_unflatten(treedef, [p.reshape(s.shape) for p, s in zip(jnp.split(vector, cuts), leaves)])


def coo_matvec(matrix, spd: bool):
    """x -> matrix @ x as a gather/scatter over the static pattern (what a sparse residual function does, so
    sparsity detection sees the real structure)."""
    rows, cols = _coo(spd)
    vals = matrix[rows, cols]
    return lambda x: jnp.zeros(N, vals.dtype).at[rows].add(vals * x[cols])


def _x0(dtype):
    x = np.linspace(-1.0, 1.0, N)
    return jnp.asarray(x + 0.3j * x[::-1] if np.issubdtype(dtype, np.complexfloating) else x, dtype)


def _residual(matrix, spd: bool, x0):
    """A nonlinear function whose Jacobian at `x0` is `matrix`."""
    mv = coo_matvec(matrix, spd)
    return lambda x: mv(x) + 0.1 * (x - x0) ** 2


# ---- operator kinds (lineax's helpers.make_*_operator, on nativax-sized sparse matrices) ------------------


def make_matrix_operator(matrix, spd):
    return lx.MatrixLinearOperator(matrix, _tags(spd))


def make_function_operator(matrix, spd):
    return lx.FunctionLinearOperator(coo_matvec(matrix, spd), _struct(matrix.dtype, False), _tags(spd))


def make_jacobian_operator(matrix, spd):
    x0 = _x0(matrix.dtype)
    fn = _residual(matrix, spd, x0)
    return lx.JacobianLinearOperator(lambda x, _: fn(x), x0, None, _tags(spd))


def make_composed_operator(matrix, spd):
    d = jnp.asarray(np.linspace(0.5, 2.0, N), matrix.dtype)
    return lx.TaggedLinearOperator(
        lx.MatrixLinearOperator(matrix / d[None, :]) @ lx.DiagonalLinearOperator(d), _tags(spd)
    )


def make_added_operator(matrix, spd):
    mv = coo_matvec(0.3 * matrix, spd)
    op = lx.MatrixLinearOperator(0.7 * matrix) + lx.FunctionLinearOperator(mv, _struct(matrix.dtype, False))
    return lx.TaggedLinearOperator(op, _tags(spd))


def make_tagged_operator(matrix, spd):
    return lx.TaggedLinearOperator(lx.MatrixLinearOperator(matrix), _tags(spd))


def make_neg_operator(matrix, spd):
    inner = lx.MatrixLinearOperator(-matrix, lx.negative_semidefinite_tag if spd else ())
    return lx.TaggedLinearOperator(-inner, _tags(spd))


def make_mul_operator(matrix, spd):
    return lx.TaggedLinearOperator(make_jacobian_operator(0.5 * matrix, spd) * 2, _tags(spd))


def make_pytree_function_operator(matrix, spd):
    """dict in; tuple out (dict out for the SPD solvers, which need equal in/out structures)."""
    mv = coo_matvec(matrix, spd)
    out = _struct(matrix.dtype, True, out=not spd)
    return lx.FunctionLinearOperator(lambda x: unflat(mv(flat(x)), out), _struct(matrix.dtype, True), _tags(spd))


def make_pytree_jacobian_operator(matrix, spd):
    x0 = _x0(matrix.dtype)
    fn = _residual(matrix, spd, x0)
    out = _struct(matrix.dtype, True, out=not spd)
    return lx.JacobianLinearOperator(
        lambda x, _: unflat(fn(flat(x)), out), unflat(x0, _struct(matrix.dtype, True)), None, _tags(spd)
    )


OPERATORS = {
    "matrix": make_matrix_operator,
    "function": make_function_operator,
    "jacobian": make_jacobian_operator,
    "composed": make_composed_operator,
    "added": make_added_operator,
    "tagged": make_tagged_operator,
    "neg": make_neg_operator,
    "mul": make_mul_operator,
    "pytree_function": make_pytree_function_operator,
    "pytree_jacobian": make_pytree_jacobian_operator,
}


# ---- helpers -----------------------------------------------------------------------------------------------


def _case(solver_name, dtype, num=1, seed=0):
    solver, spd, tol = SOLVERS[solver_name]
    mats = [jnp.asarray(conformance_matrix(N, dtype, spd=spd, seed=seed + i)) for i in range(num)]
    return solver, spd, tol, mats


def _vec(dtype, seed, shape=(N,)):
    rng = np.random.default_rng(100 + seed)
    v = rng.standard_normal(shape)
    if np.issubdtype(dtype, np.complexfloating):
        v = v + 1j * rng.standard_normal(shape)
    return jnp.asarray(v, dtype)


def _close(x, y, tol):
    np.testing.assert_allclose(np.asarray(flat(x)), np.asarray(y), rtol=tol, atol=tol)


@eqx.filter_jit
def _solve(operator, vector, solver):
    return lx.linear_solve(operator, vector, solver).value


def _solve_flat(solver, make, spd, matrix, b):
    """Solve with the operator built from `matrix`, taking and returning flat vectors."""
    op = make(matrix, spd)
    return flat(lx.linear_solve(op, unflat(b, op.out_structure()), solver).value)


# ---- which combinations run ------------------------------------------------------------------------------
# KLU (cheap to compile) meets every operator kind in both dtypes, and runs every check on flat and pytree
# kinds in both dtypes. AMG and DistributedCholesky, whose solves take seconds to compile, run each check
# once, spreading flat/pytree kinds and real/complex over the checks; their operator conversion is KLU's
# (AMG: `as_sparse_operator`) or lineax's own (DistributedCholesky: `as_matrix`).

F64, C128 = np.float64, np.complex128


def _cases(kinds, amg, cholesky):
    return [("klu", k, d) for k in kinds for d in DTYPES] + [("amg", *amg), ("cholesky", *cholesky)]


SOLVE_CASES = [("klu", k, d) for k in OPERATORS for d in DTYPES] + [
    ("amg", "matrix", C128), ("amg", "function", F64), ("amg", "pytree_jacobian", F64),
    ("cholesky", "matrix", F64), ("cholesky", "jacobian", C128), ("cholesky", "pytree_function", F64),
]
VMAP_CASES = _cases(("matrix", "jacobian", "pytree_function"), ("pytree_jacobian", F64), ("matrix", C128))
JVP_CASES = _cases(("matrix", "jacobian", "pytree_jacobian"), ("matrix", C128), ("pytree_jacobian", F64))
TRANSPOSE_CASES = _cases(("function", "pytree_function"), ("pytree_function", F64), ("matrix", C128))
ADJOINT_CASES = [("klu", "function"), ("klu", "pytree_jacobian"), ("amg", "matrix"), ("cholesky", "pytree_jacobian")]


def _ids(case):
    return "-".join(x if isinstance(x, str) else np.dtype(x).name for x in case)


# ---- the checks --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("solver_name,kind,dtype", SOLVE_CASES, ids=map(_ids, SOLVE_CASES))
def test_solve(solver_name, kind, dtype):
    solver, spd, tol, (matrix,) = _case(solver_name, dtype)
    op = OPERATORS[kind](matrix, spd)
    if solver_name == "klu":  # the operator kinds themselves (once, not per solver)
        np.testing.assert_allclose(np.asarray(op.as_matrix()), np.asarray(matrix), rtol=1e-12, atol=1e-12)
    b = _vec(dtype, 0)
    expected = np.linalg.solve(np.asarray(matrix), np.asarray(b))
    sol = lx.linear_solve(op, unflat(b, op.out_structure()), solver)
    assert sol.result == lx.RESULTS.successful
    assert jax.tree_util.tree_structure(sol.value) == jax.tree_util.tree_structure(op.in_structure())
    assert eqx.tree_equal(jax.eval_shape(lambda: sol.value), op.in_structure()) is True
    _close(sol.value, expected, tol)
    if kind in ("matrix", "pytree_jacobian"):  # under an outer jit, with the operator as an argument
        _close(_solve(op, unflat(b, op.out_structure()), solver), expected, tol)


@pytest.mark.parametrize("solver_name,kind,dtype", VMAP_CASES, ids=map(_ids, VMAP_CASES))
def test_vmap(solver_name, kind, dtype):
    solver, spd, tol, mats = _case(solver_name, dtype, num=3)
    make = OPERATORS[kind]
    matrices = jnp.stack(mats)
    vectors = _vec(dtype, 1, (3, N))
    solve = ft.partial(_solve_flat, solver, make, spd)
    for op_axis, vec_axis in ((None, 0), (0, None), (0, 0)):
        got = jax.vmap(solve, in_axes=(op_axis, vec_axis))(matrices[0] if op_axis is None else matrices,
                                                          vectors[0] if vec_axis is None else vectors)
        for i in range(3):
            a = np.asarray(mats[0 if op_axis is None else i])
            b = np.asarray(vectors[0 if vec_axis is None else i])
            np.testing.assert_allclose(np.asarray(got[i]), np.linalg.solve(a, b), rtol=tol, atol=tol)


@pytest.mark.parametrize("solver_name,kind,dtype", JVP_CASES, ids=map(_ids, JVP_CASES))
def test_jvp(solver_name, kind, dtype):
    solver, spd, tol, (matrix, t_matrix) = _case(solver_name, dtype, num=2)
    make = OPERATORS[kind]
    b, t_b = _vec(dtype, 2), _vec(dtype, 3)
    solve = ft.partial(_solve_flat, solver, make, spd)
    x, t_x = jax.jvp(solve, (matrix, b), (t_matrix, t_b))
    ex, t_ex = jax.jvp(jnp.linalg.solve, (matrix, b), (t_matrix, t_b))
    np.testing.assert_allclose(np.asarray(x), np.asarray(ex), rtol=tol, atol=tol)
    np.testing.assert_allclose(np.asarray(t_x), np.asarray(t_ex), rtol=100 * tol, atol=100 * tol)
    # the vector only, through a filter_jvp of the built operator (lineax's test_jvp pattern)
    op = make(matrix, spd)
    structure = op.out_structure()
    _, t_v = eqx.filter_jvp(lambda v: flat(_solve(op, unflat(v, structure), solver)), (b,), (t_b,))
    np.testing.assert_allclose(np.asarray(t_v), np.linalg.solve(np.asarray(matrix), np.asarray(t_b)),
                               rtol=tol, atol=tol)


@pytest.mark.parametrize("solver_name,kind,dtype", TRANSPOSE_CASES, ids=map(_ids, TRANSPOSE_CASES))
def test_transpose(solver_name, kind, dtype):
    """lineax's test_transpose: the linear transpose of `v -> solve(A, v)` is `w -> solve(A^T, w)`."""
    solver, spd, tol, (matrix,) = _case(solver_name, dtype)
    op = OPERATORS[kind](matrix, spd)
    out_vec = unflat(_vec(dtype, 4), op.out_structure())
    w = _vec(dtype, 5)
    in_vec = unflat(w, op.in_structure())
    (got,) = eqx.filter_jit(
        lambda o, ov, iv: jax.linear_transpose(lambda v: lx.linear_solve(o, v, solver).value, ov)(iv)
    )(op, out_vec, in_vec)
    expected = np.linalg.solve(np.asarray(matrix).T, np.asarray(w))
    _close(got, expected, tol)
    _close(lx.linear_solve(op.T, in_vec, solver).value, expected, tol)
    # reverse mode wrt the right-hand side: the Jacobian of the solve is A^{-1}
    inv = np.linalg.inv(np.asarray(matrix))
    jac = jax.jacrev(ft.partial(_solve_flat, solver, OPERATORS[kind], spd, matrix),
                     holomorphic=np.issubdtype(dtype, np.complexfloating))(_vec(dtype, 6))
    np.testing.assert_allclose(np.asarray(jac), inv, rtol=tol, atol=tol)


@pytest.mark.parametrize("solver_name,kind", ADJOINT_CASES, ids=map(_ids, ADJOINT_CASES))
def test_adjoint(solver_name, kind):
    """Complex: the adjoint operator `conj(A).T` and the solver's own `conj`/`transpose` states."""
    dtype = np.complex128
    solver, spd, tol, (matrix,) = _case(solver_name, dtype)
    op = OPERATORS[kind](matrix, spd)
    a = np.asarray(matrix)
    w = _vec(dtype, 7)
    adjoint = lx.conj(op).transpose()
    _close(lx.linear_solve(adjoint, unflat(w, adjoint.out_structure()), solver).value,
           np.linalg.solve(a.conj().T, np.asarray(w)), tol)
    state = solver.init(op, {})
    t_state, _ = solver.transpose(state, {})
    c_state, _ = solver.conj(state, {})
    ct_state, _ = solver.conj(t_state, {})
    for st, dense, structure in ((t_state, a.T, op.in_structure()), (c_state, a.conj(), op.out_structure()),
                                 (ct_state, a.conj().T, op.in_structure())):
        x, result, _ = solver.compute(st, unflat(w, structure), {})
        assert result == lx.RESULTS.successful
        _close(x, np.linalg.solve(dense, np.asarray(w)), tol)


def test_conventions_are_on():
    """The fixture really applies lineax's conventions (else every test above proves less)."""
    with pytest.raises(jax.dtypes.TypePromotionError):
        jnp.ones(2, jnp.float32) + jnp.ones(2, jnp.float64)
    with pytest.raises(ValueError, match="rank"):
        jnp.ones((2, 2)) + jnp.ones(2)


def test_issue_snippet():
    """The reproduction of issue 14 (a matrix-free Jacobian under strict promotion) gives the right answer."""
    op = lx.JacobianLinearOperator(lambda u, _: 4 * u - jnp.roll(u, 1) + 0.1 * u**3, jnp.ones(20), None)
    x = lx.linear_solve(op, jnp.ones(20), nativax.KLU()).value
    np.testing.assert_allclose(x, np.linalg.solve(np.asarray(op.as_matrix()), np.ones(20)), rtol=1e-12)


def test_amg_preconditioner_on_pytree_operator():
    """`AMG.preconditioner` maps the operator's output structure to its input structure, as lineax's CG needs."""
    _, spd, _, (matrix,) = _case("amg", F64)
    op = make_pytree_jacobian_operator(matrix, spd)
    pre = nativax.AMG(max_coarse=4).preconditioner(op)
    assert eqx.tree_equal(pre.in_structure(), op.out_structure()) is True
    assert eqx.tree_equal(pre.out_structure(), op.in_structure()) is True
    b = _vec(F64, 8)
    sol = lx.linear_solve(op, unflat(b, op.out_structure()), lx.CG(rtol=1e-12, atol=1e-12),
                          options={"preconditioner": pre})
    _close(sol.value, np.linalg.solve(np.asarray(matrix), np.asarray(b)), 1e-9)
