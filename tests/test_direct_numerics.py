"""Issue 20: the numerics of the sparse direct solvers (threads, singularity, conventions, refinement,
diagnostics), every check against dense numpy references. Small matrices: the whole file runs in seconds."""

import re
from pathlib import Path

import jax
import jax.numpy as jnp
import jax.random as jr
import lineax as lx
import numpy as np
import pytest
import scipy.sparse as sp

import nativax
from nativax._core import status as st
from nativax._core.native import lib
from nativax._direct.numerics import DEFAULT_RCOND_MIN

SOLVERS = [nativax.KLU, nativax.UMFPACK, nativax.CHOLMOD]
SPD_TAGS = (lx.symmetric_tag, lx.positive_semidefinite_tag)


def poisson(m: int) -> sp.csr_matrix:
    t = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(m, m))
    return (sp.kron(t, sp.eye(m)) + sp.kron(sp.eye(m), t)).tocsr()


def neumann(m: int, seed: int) -> sp.csr_matrix:
    """A graph Laplacian with random positive weights: symmetric PSD, rank n - 1, singular only through
    rounding once factored (what a pure-Neumann FEM stiffness matrix is)."""
    rng = np.random.default_rng(seed)
    a = poisson(m).tocoo()
    off = a.row != a.col
    w = np.exp(rng.standard_normal(off.sum()))
    w = sp.coo_matrix((w, (a.row[off], a.col[off])), shape=a.shape)
    w = (w + w.T) / 2
    return (sp.diags(np.asarray(w.sum(axis=1)).ravel()) - w).tocsr()


def pivot_hungry(n: int, seed: int) -> sp.csc_matrix:
    """Nonsymmetric with diagonals at ~1e-3 of their column's largest entry: KLU's diagonal-preferring threshold
    pivoting (tolerance 1e-3) accepts them and the growth leaves a backward error around 1e-10."""
    rng = np.random.default_rng(seed)
    a = sp.random(n, n, density=0.02, random_state=rng, data_rvs=rng.standard_normal).tocsc()
    colmax = np.maximum(abs(a).max(axis=0).toarray().ravel(), 1.0)  # an empty column gets a unit diagonal
    return (a + sp.diags(1e-3 * (1 + 0.5 * rng.random(n)) * colmax)).tocsc()


def backward_error(a, x, b) -> float:
    r = b - a @ x
    return float(np.abs(r).max() / (abs(a).sum(axis=1).max() * np.abs(x).max() + np.abs(b).max()))


def op_of(a, tags=()):
    return nativax.SparseOperator.from_scipy(sp.csr_matrix(a), tags=tags)


# ---- threads ------------------------------------------------------------------------------------------------


def test_blas_thread_policy_restores_the_library_setting():
    assert lib.blas_thread_control() in (
        "openblas_set_num_threads_local", "openblas_set_num_threads", "MKL_Set_Num_Threads_Local", "none")
    before = lib.blas_num_threads()
    a = poisson(12)
    op = op_of(a, SPD_TAGS)
    vs = jnp.asarray(op.values)[None] * jnp.linspace(1.0, 2.0, 6)[:, None]
    b = np.arange(a.shape[0], dtype=float)
    for solver in (nativax.CHOLMOD(), nativax.UMFPACK()):
        nativax.clear_caches()
        xs = jax.vmap(lambda v, s=solver: lx.linear_solve(nativax.SparseOperator(v, op.pattern, SPD_TAGS), b, s).value)(vs)
        for k in (0, 5):
            np.testing.assert_allclose(xs[k], np.linalg.solve(a.toarray() * float(vs[k, 0] / vs[0, 0]), b),
                                       rtol=1e-10)
    assert lib.blas_num_threads() == before  # the batch ran BLAS single-threaded and put it back


# ---- conventions: Hermitian within rounding, empty systems --------------------------------------------------


def _hpd3():
    m = jr.normal(jr.PRNGKey(0), (3, 3), dtype=jnp.complex128)
    return np.array(m @ m.T.conj())


@pytest.mark.parametrize("where", [(0, 0), (1, 1), (1, 0)])
def test_cholmod_accepts_hermitian_within_rounding(where):
    # ../shared/repro/peer-conventions/cholmod_complex_diag.py: a 1e-16 imaginary part on the diagonal (or a
    # rounding-level asymmetry) is what any product of operators leaves; lx.Cholesky accepts it.
    a = _hpd3()
    b = a @ np.ones(3)
    a[where] += 1e-16j if where[0] == where[1] else 1e-16 * (1 + 1j)
    for solver in (nativax.CHOLMOD(), nativax.Auto()):
        sol = lx.linear_solve(lx.MatrixLinearOperator(jnp.asarray(a), lx.positive_semidefinite_tag), b, solver)
        np.testing.assert_allclose(sol.value, np.ones(3), rtol=1e-12)
        assert int(sol.stats["status"]) == st.OK


def test_cholmod_rejects_asymmetry_beyond_its_tolerance():
    a = _hpd3()
    a[1, 0] += 1e-6 * abs(a[1, 0])
    sol = lx.linear_solve(lx.MatrixLinearOperator(jnp.asarray(a), lx.positive_semidefinite_tag),
                          jnp.ones(3, jnp.complex128), nativax.CHOLMOD(), throw=False)
    assert int(sol.stats["status"]) == st.NOT_SYMMETRIC and sol.result == lx.RESULTS.singular


def test_auto_on_a_jacobian_hermitian_within_rounding(strict_promotion):
    # ../shared/repro/peer-conventions/auto_cholmod_complex.py
    k = jr.split(jr.PRNGKey(0), 5)
    m = jr.normal(k[0], (3, 3), dtype=jnp.complex128)
    a = m @ m.T.conj()
    x0, c0 = jr.normal(k[1], (3,), dtype=jnp.complex128), jr.normal(k[2], (3,), dtype=jnp.complex128)
    bm, cm = jr.normal(k[3], (3, 3), dtype=jnp.complex128), jr.normal(k[4], (3, 3), dtype=jnp.complex128)
    d = a - jax.jacfwd(lambda x: c0 + bm @ x + cm @ x**2, holomorphic=True)(x0)
    op = lx.JacobianLinearOperator(lambda x, _: c0 + (bm + d) @ x + cm @ x**2, x0, None, lx.positive_semidefinite_tag)
    b = a @ jnp.ones(3, dtype=jnp.complex128)
    for solver in (nativax.Auto(), nativax.CHOLMOD()):
        np.testing.assert_allclose(lx.linear_solve(op, b, solver).value, np.ones(3), rtol=1e-10)


@pytest.mark.parametrize("solver", [nativax.KLU(), nativax.UMFPACK(), nativax.CHOLMOD(), nativax.Auto()])
def test_empty_system_solves(solver):
    # ../shared/repro/peer-conventions/empty_system.py: lx.LU returns an empty successful solution.
    op = lx.MatrixLinearOperator(jnp.zeros((0, 0)), lx.positive_semidefinite_tag)
    sol = lx.linear_solve(op, jnp.zeros(0), solver)
    assert sol.value.shape == (0,) and sol.result == lx.RESULTS.successful
    sol = jax.jit(lambda v: lx.linear_solve(op, v, solver))(jnp.zeros(0))
    assert sol.value.shape == (0,)


def test_empty_batches_and_empty_states():
    import optimistix as optx

    a = poisson(3)
    op = op_of(a)
    vs = jnp.zeros((0, op.pattern.nnz))
    # (`jax.vmap` of lx.linear_solve over a batch of size 0 stops in equinox's error machinery for every lineax
    # solver, lx.LU included; the functional API and empty states are nativax's to handle.)
    assert nativax.klu.solve(op.pattern.rows, op.pattern.cols, vs, jnp.ones(9)).shape == (0, 9)
    f = lambda y, _: y - 0.5  # noqa: E731
    out = optx.root_find(f, optx.Newton(1e-8, 1e-8, linear_solver=nativax.KLU()), jnp.zeros((3, 0)))
    assert out.value.shape == (3, 0)
    assert nativax.Auto().choose(lx.MatrixLinearOperator(jnp.zeros((0, 0))))[1].startswith("empty")


# ---- singular to working precision ------------------------------------------------------------------------


@pytest.mark.parametrize("solver_cls", SOLVERS)
def test_numerically_singular_is_never_success(solver_cls):
    # ../shared/repro/numerics/neumann_singular.py: rank n - 1 through rounding only; KLU used to return
    # status 0 with |x| ~ 1e16. Every member of a batch must now fail (7, or 5 from CHOLMOD).
    mats = [neumann(8, s) for s in range(4)]
    ops = [op_of(a, SPD_TAGS) for a in mats]
    pat = ops[0].pattern
    assert all(o.pattern == pat for o in ops)
    vs = jnp.stack([o.values for o in ops])
    b = np.sin(np.arange(64.0))
    f = jax.jit(jax.vmap(lambda v: lx.linear_solve(nativax.SparseOperator(v, pat, SPD_TAGS), b, solver_cls(),
                                                   throw=False)))
    sol = f(vs)
    codes = np.asarray(sol.stats["status"])
    assert np.all(np.isin(codes, [st.NUMERICALLY_SINGULAR, st.NOT_POSITIVE_DEFINITE])), codes
    assert np.all(np.isnan(np.asarray(sol.value)))
    assert np.all(np.asarray(sol.result._value) == lx.RESULTS.singular._value)
    # The threshold is documented and overridable: rcond_min=0 hands back the rounding-dominated answer.
    if solver_cls is not nativax.CHOLMOD:
        loose = lx.linear_solve(ops[0], b, solver_cls(rcond_min=0.0), throw=False)
        assert int(loose.stats["status"]) == st.OK and float(jnp.max(jnp.abs(loose.value))) > 1e10


def test_ill_conditioned_but_not_singular_is_solved():
    # A well-posed matrix with a 1e12 penalty on one diagonal (a Dirichlet condition by penalty): condition
    # ~1e12, far from singular to working precision. CHOLMOD's pivot ratio is ~1e-12 (below the 1e-10 gate),
    # so the 1-norm estimate is computed and decides.
    a = poisson(6).tolil()
    a[0, 0] = 1e12
    a = a.tocsr()
    b = np.ones(36)
    cond1 = np.linalg.cond(a.toarray(), 1)
    for solver_cls in SOLVERS:
        sol = lx.linear_solve(op_of(a, SPD_TAGS), b, solver_cls(condest=True))
        np.testing.assert_allclose(sol.value, np.linalg.solve(a.toarray(), b), rtol=1e-8)
        assert cond1 / 3 <= float(sol.stats["condest"]) <= cond1 * 1.0001
    sol = lx.linear_solve(op_of(a, SPD_TAGS), b, nativax.CHOLMOD())
    assert float(sol.stats["rcond"]) < 1e-10 and np.isfinite(float(sol.stats["condest"]))


def test_errors_name_nativax_the_cause_and_the_members():
    mats = [poisson(4) for _ in range(4)]
    ops = [op_of(a) for a in mats]
    vs = jnp.stack([o.values for o in ops]).at[2].set(0.0)  # member 2: all zeros, structurally singular
    pat = ops[0].pattern
    f = jax.jit(jax.vmap(lambda v: lx.linear_solve(nativax.SparseOperator(v, pat), jnp.ones(16), nativax.KLU()).value))
    with pytest.raises(Exception, match=r"nativax KLU: .*1 of 4 batch members: batch member 2: singular"):
        f(vs)
    neu = op_of(neumann(6, 0))
    with pytest.raises(Exception, match=r"nativax UMFPACK: .*numerically singular.*rcond_min"):
        lx.linear_solve(neu, jnp.ones(36), nativax.UMFPACK())
    indefinite = op_of(-poisson(4), SPD_TAGS)
    with pytest.raises(Exception, match=r"nativax CHOLMOD: .*not positive definite"):
        lx.linear_solve(indefinite, jnp.ones(16), nativax.CHOLMOD())


def test_every_status_code_is_documented():
    doc = (Path(__file__).resolve().parents[1] / "docs" / "numerics.md").read_text()
    codes = {v for k, v in vars(st).items() if k.isupper() and isinstance(v, int) and not k.startswith(("MODE", "INFO"))}
    assert codes == set(range(st.NUMERICALLY_SINGULAR + 1))
    for code in codes:
        assert re.search(rf"^\| {code} +\|", doc, re.M), code
        assert code in st.CAUSES or code == st.OK
    assert f"{DEFAULT_RCOND_MIN:.3g}" in doc or "machine epsilon" in doc


# ---- iterative refinement ---------------------------------------------------------------------------------


def test_refinement_reaches_1e15_backward_error():
    a = pivot_hungry(300, 7)  # condition ~5e3, unrefined backward error ~3e-10
    b = np.random.default_rng(0).standard_normal(300)
    op = op_of(a)
    plain = lx.linear_solve(op, b, nativax.KLU())
    assert backward_error(a, np.asarray(plain.value), b) >= 1e-12  # what the target starts from
    sol = lx.linear_solve(op, b, nativax.KLU(refine=3))
    assert backward_error(a, np.asarray(sol.value), b) <= 1e-15
    assert float(sol.stats["backward_error"]) <= 1e-15 and 1 <= int(sol.stats["refine_steps"]) <= 3
    x_ref = np.linalg.solve(a.toarray(), b)
    assert np.abs(sol.value - x_ref).max() <= np.abs(plain.value - x_ref).max()


def test_refinement_per_member_under_jit_vmap_and_grad():
    a0 = pivot_hungry(300, 7)
    op = op_of(a0)
    pat = op.pattern
    vs = jnp.stack([op.values, op.values * 1.5, op.values.at[0].multiply(1.01)])
    b = jnp.asarray(np.random.default_rng(1).standard_normal(300))
    solver = nativax.KLU(refine=3)
    f = jax.jit(jax.vmap(lambda v: lx.linear_solve(nativax.SparseOperator(v, pat), b, solver)))
    sol = f(vs)
    for k in range(3):
        ak = sp.csr_matrix((np.asarray(vs[k]), (pat.rows, pat.cols)), shape=a0.shape)
        assert backward_error(ak, np.asarray(sol.value[k]), np.asarray(b)) <= 1e-15
    assert sol.stats["refine_steps"].shape == (3,) and sol.stats["backward_error"].shape == (3,)

    def loss(v, solver):
        return jnp.sum(jnp.sin(lx.linear_solve(nativax.SparseOperator(v, pat), b, solver).value))

    def dense_loss(v):
        dense = jnp.zeros(a0.shape).at[pat.rows, pat.cols].add(v)
        return jnp.sum(jnp.sin(jnp.linalg.solve(dense, b)))

    g = jax.jit(jax.grad(loss), static_argnums=1)(op.values, solver)  # the adjoint solve is refined too
    g_ref = jax.grad(dense_loss)(op.values)
    g_plain = jax.grad(loss)(op.values, nativax.KLU())
    err = float(jnp.max(jnp.abs(g - g_ref)) / jnp.max(jnp.abs(g_ref)))
    assert err < 1e-10 and err <= float(jnp.max(jnp.abs(g_plain - g_ref)) / jnp.max(jnp.abs(g_ref)))


def test_refinement_with_float32_input_and_a_frozen_factorization():
    a = pivot_hungry(300, 8)
    b = np.random.default_rng(2).standard_normal(300)
    op32 = nativax.SparseOperator.from_scipy(a.astype(np.float32).tocsr())
    sol = lx.linear_solve(op32, jnp.asarray(b, jnp.float32), nativax.KLU(refine=2))
    assert sol.value.dtype == jnp.float32 and float(sol.stats["backward_error"]) < 1e-6
    # A held factorization applied to nearby values (chord mode): refinement on the new matrix converges to
    # its solution; without refinement the answer is off by the size of the change.
    held = nativax.KLU.factor(op_of(a), frozen=True)
    near = a.copy()
    near.data = near.data * (1 + 1e-6 * np.random.default_rng(3).standard_normal(near.nnz))
    refined = eqx_tree_replace(held, refine=5)
    x_ref = np.linalg.solve(near.toarray(), b)
    x0 = np.asarray(lx.linear_solve(op_of(near), b, held).value)
    x1 = lx.linear_solve(op_of(near), b, refined)
    assert np.abs(np.asarray(x1.value) - x_ref).max() < 1e-3 * np.abs(x0 - x_ref).max()
    assert float(x1.stats["backward_error"]) <= 1e-15


def eqx_tree_replace(solver, **kw):
    import dataclasses

    return dataclasses.replace(solver, **kw)


# ---- diagnostics ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("solver_cls", SOLVERS)
def test_diagnostics_for_cache_managed_solves(solver_cls):
    a = poisson(7) + sp.diags(np.linspace(0.1, 1.0, 49))
    op = op_of(a, SPD_TAGS)
    b = np.ones(49)
    nativax.clear_caches()
    f = jax.jit(lambda v: lx.linear_solve(nativax.SparseOperator(v, op.pattern, SPD_TAGS), b, solver_cls(condest=True)))
    first, second = f(op.values), f(op.values)
    assert not bool(first.stats["cache_hit"]) and bool(second.stats["cache_hit"])
    cond1 = np.linalg.cond(a.toarray(), 1)
    assert cond1 / 3 <= float(first.stats["condest"]) <= cond1 * 1.0001
    assert 0 < float(first.stats["rcond"]) <= 1 and float(first.stats["factor_nnz"]) >= a.nnz / 2
    if solver_cls is nativax.KLU:
        assert 0 < float(first.stats["rgrowth"]) <= 1
    vs = jnp.stack([op.values, 2 * op.values])
    g = jax.vmap(lambda v: lx.linear_solve(nativax.SparseOperator(v, op.pattern, SPD_TAGS), b, solver_cls()).stats)
    stats = g(vs)
    assert stats["rcond"].shape == (2,) and stats["cache_hit"].shape == (2,)


def test_bad_numerics_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="`refine` must be a non-negative int"):
        nativax.KLU(refine=-1)
    with pytest.raises(ValueError, match="`rcond_min` must be a float in"):
        nativax.UMFPACK(rcond_min=2.0)
    with pytest.raises(ValueError, match="`refine_tol` must be a float in"):
        nativax.CHOLMOD(refine_tol="small")
