"""nativax.PETSc in a single process (communicator of size 1): every preset against scipy on real matrices,
derivatives against dense jnp.linalg, vmap, caching, failures and bad input."""

import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

import nativax
from nativax import petsc
from petsc_problems import circuit, convection_diffusion, poisson2d, poisson3d

pytestmark = pytest.mark.skipif(not nativax.has_petsc, reason="this build has no PETSc engine (no PETSc found)")

DIRECT = ("mumps_lu", "mumps_cholesky", "superlu_dist")
SPD_ONLY = ("mumps_cholesky", "hypre", "gamg")

PROBLEMS = {
    "poisson2d": lambda: poisson2d(24),
    "poisson3d": lambda: poisson3d(9),
    "convdiff": lambda: convection_diffusion(20),
    "circuit": lambda: circuit(400),
}


def _tol(preset):
    return 1e-9 if preset in DIRECT else 1e-6


# Every preset on every matrix it applies to (the SPD-only presets on the two Poisson matrices).
CASES = [(problem, preset) for problem in PROBLEMS for preset in petsc.PRESETS
         if preset not in SPD_ONLY or problem.startswith("poisson")]


@pytest.mark.parametrize(("problem", "preset"), CASES)
def test_presets_vs_scipy(problem, preset):
    a = PROBLEMS[problem]()
    b = np.random.default_rng(1).standard_normal(a.shape[0])
    ref = spla.spsolve(sp.csc_matrix(a), b)
    op = nativax.SparseOperator.from_scipy(a)
    sol = lx.linear_solve(op, jnp.asarray(b), nativax.PETSc(preset=preset))
    assert sol.result == lx.RESULTS.successful
    np.testing.assert_allclose(np.asarray(sol.value), ref, rtol=0, atol=_tol(preset) * np.abs(ref).max())
    if preset not in DIRECT:
        assert int(sol.stats["num_steps"]) > 0


def test_raw_options_gmres_hypre_nonsymmetric():
    a = convection_diffusion(20)
    b = np.ones(a.shape[0])
    solver = nativax.PETSc(preset=None, options="-ksp_type gmres -pc_type hypre -ksp_norm_type unpreconditioned",
                           rtol=1e-11)
    sol = lx.linear_solve(nativax.SparseOperator.from_scipy(a), jnp.asarray(b), solver)
    np.testing.assert_allclose(np.asarray(sol.value), spla.spsolve(sp.csc_matrix(a), b), rtol=1e-8)
    assert "-ksp_type gmres" in solver.options_string


def _dense_problem():
    a = convection_diffusion(6) / 40.0
    return nativax.SparseOperator.from_scipy(a), jnp.asarray(a.toarray()), jnp.linspace(-1.0, 2.0, a.shape[0])


GRAD_SOLVERS = {
    "mumps_lu": nativax.PETSc(preset="mumps_lu"),
    "gmres_hypre": nativax.PETSc(preset=None, options="-ksp_type gmres -pc_type hypre -ksp_norm_type unpreconditioned",
                                 rtol=1e-13),
}


@pytest.mark.parametrize("name", list(GRAD_SOLVERS))
def test_grad_vs_dense(name):
    """d/d values and d/d b of w . A^-1 b (adjoint: KSPSolveTranspose / explicit A^T for hypre) vs jnp.linalg."""
    op, dense, b = _dense_problem()
    solver = GRAD_SOLVERS[name]
    w = jnp.cos(jnp.arange(b.size))

    def loss(values, b):
        return jnp.dot(w, lx.linear_solve(nativax.SparseOperator(values, op.pattern), b, solver).value)

    def ref(values, b):
        mat = jnp.zeros(dense.shape).at[op.pattern.rows, op.pattern.cols].set(values)
        return jnp.dot(w, jnp.linalg.solve(mat, b))

    g = jax.jit(jax.grad(loss, argnums=(0, 1)))(op.values, b)
    gr = jax.grad(ref, argnums=(0, 1))(op.values, b)
    for x, y in zip(g, gr):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-8, atol=1e-11)
    jf = jax.jacfwd(lambda bb: lx.linear_solve(op, bb, solver).value)(b)
    np.testing.assert_allclose(np.asarray(jf), np.linalg.inv(np.asarray(dense)), rtol=1e-8, atol=1e-11)


def test_superlu_dist_adjoint_refused_clearly():
    op, _, b = _dense_problem()
    solver = nativax.PETSc(preset="superlu_dist")
    with pytest.raises(NotImplementedError, match="SuperLU_DIST"):
        jax.grad(lambda bb: jnp.sum(lx.linear_solve(op, bb, solver).value))(b)


def test_grad_hypre_spd_and_adjoint_reuses_preconditioner():
    a = poisson2d(12)
    op = nativax.SparseOperator.from_scipy(a, tags=lx.positive_semidefinite_tag)
    b = jnp.ones(a.shape[0])
    solver = nativax.PETSc(preset="hypre", rtol=1e-12)

    def loss(values):
        return jnp.sum(lx.linear_solve(nativax.SparseOperator(values, op.pattern), b, solver).value ** 2)

    def ref(values):
        mat = jnp.zeros(a.shape).at[op.pattern.rows, op.pattern.cols].set(values)
        return jnp.sum(jnp.linalg.solve(mat, b) ** 2)

    nativax.clear_caches()
    petsc_before = petsc.cache_info()
    g = jax.grad(loss)(op.values)
    after = petsc.cache_info()
    np.testing.assert_allclose(np.asarray(g), np.asarray(jax.grad(ref)(op.values)), rtol=1e-7, atol=1e-10)
    # One setup; the adjoint (A symmetric: the forward solve) reuses the BoomerAMG hierarchy.
    assert after["setups"] - petsc_before["setups"] == 1
    assert after["solves"] - petsc_before["solves"] == 2
    assert after["numeric_updates"] == petsc_before["numeric_updates"]
    assert after["reuses"] - petsc_before["reuses"] == 1


def test_vmap_rhs_and_values_one_call():
    a = circuit(200)
    op = nativax.SparseOperator.from_scipy(a)
    solver = nativax.PETSc(preset="mumps_lu")
    bs = jnp.asarray(np.random.default_rng(2).standard_normal((3, a.shape[0])))
    xs = jax.vmap(lambda b: lx.linear_solve(op, b, solver).value)(bs)
    dense = a.toarray()
    np.testing.assert_allclose(np.asarray(xs), np.linalg.solve(dense, np.asarray(bs).T).T, rtol=1e-9, atol=1e-12)
    scales = jnp.asarray([1.0, 2.0, 4.0])
    vals = scales[:, None] * op.values[None]

    def one(v, b):
        sol = lx.linear_solve(nativax.SparseOperator(v, op.pattern), b, solver)
        return sol.value, sol.stats["petsc_status"]

    nativax.clear_caches()
    petsc.reset_cache_counters()
    xs2, status = jax.vmap(one)(vals, bs)
    np.testing.assert_allclose(np.asarray(xs2) * np.asarray(scales)[:, None], np.asarray(xs), rtol=1e-9, atol=1e-12)
    assert np.all(np.asarray(status) == 0)
    info = petsc.cache_info()
    assert info["setups"] == 1 and info["numeric_updates"] == 2  # one system, refactored for members 2 and 3


def test_per_member_status_under_vmap():
    a = poisson2d(8)
    op = nativax.SparseOperator.from_scipy(a)
    b = np.ones(a.shape[0])
    bs = jnp.asarray(np.stack([b, np.full_like(b, np.nan), 2 * b]))
    sol = jax.vmap(lambda bb: lx.linear_solve(op, bb, nativax.PETSc(preset="mumps_cholesky"), throw=False))(bs)
    codes = np.asarray(sol.stats["petsc_status"])
    assert codes.tolist() == [petsc_status("OK"), petsc_status("NONFINITE_RHS"), petsc_status("OK")]
    assert np.isfinite(np.asarray(sol.value[0])).all() and np.isnan(np.asarray(sol.value[1])).all()


def petsc_status(name):
    from nativax._petsc import status

    return getattr(status, name)


def test_status_codes_match_native():
    from nativax._petsc import ext, status

    e = ext.require()
    for name in ("OK", "SINGULAR", "NONFINITE_MATRIX", "NONFINITE_RHS", "FAILED", "NOT_POSITIVE_DEFINITE",
                 "NOT_CONVERGED", "DIVERGED", "RANK_MISMATCH"):
        assert getattr(status, name) == getattr(e, f"STATUS_{name}")


def test_caching_values_reuse():
    a = poisson3d(8)
    op = nativax.SparseOperator.from_scipy(a)
    solver = nativax.PETSc(preset="mumps_cholesky")
    b = jnp.ones(a.shape[0])
    f = jax.jit(lambda v: lx.linear_solve(nativax.SparseOperator(v, op.pattern), b, solver).value)
    nativax.clear_caches()
    petsc.reset_cache_counters()
    x1 = f(op.values)
    x2 = f(op.values)
    x3 = f(2.0 * op.values)
    jax.block_until_ready((x1, x2, x3))
    info = petsc.cache_info()
    assert (info["setups"], info["reuses"], info["numeric_updates"]) == (1, 1, 1)
    np.testing.assert_allclose(np.asarray(x1), np.asarray(x2))
    np.testing.assert_allclose(2.0 * np.asarray(x3), np.asarray(x1), rtol=1e-12)
    assert nativax.cache_info()["petsc"]["setups"] == 1
    nativax.finalize()  # frees the cached PETSc objects; PETSc itself stays up until interpreter exit
    np.testing.assert_allclose(np.asarray(f(op.values)), np.asarray(x1))
    assert petsc.cache_info()["setups"] == 2


def test_failures_are_results():
    a = sp.lil_matrix(poisson2d(6))
    a[5, :] = 0.0
    a[:, 5] = 0.0
    a[5, 5] = 0.0  # structurally present, numerically singular
    a = sp.csr_matrix(a)
    a.eliminate_zeros()
    a = sp.csr_matrix(a + sp.csr_matrix(([0.0], ([5], [5])), shape=a.shape))
    op = nativax.SparseOperator.from_scipy(a)
    b = jnp.ones(a.shape[0])
    sol = lx.linear_solve(op, b, nativax.PETSc(preset="mumps_lu"), throw=False)
    assert sol.result == lx.RESULTS.singular and int(sol.stats["petsc_status"]) == petsc_status("SINGULAR")
    with pytest.raises(Exception, match="singular"):
        lx.linear_solve(op, b, nativax.PETSc(preset="mumps_lu"))
    # Krylov iteration cap.
    p = nativax.SparseOperator.from_scipy(poisson2d(20))
    sol = lx.linear_solve(p, jnp.ones(400), nativax.PETSc(preset="hypre", rtol=1e-14, max_steps=1), throw=False)
    assert sol.result == lx.RESULTS.max_steps_reached and int(sol.stats["num_steps"]) == 1
    # NaN in the matrix.
    bad = nativax.SparseOperator(p.values.at[3].set(jnp.nan), p.pattern)
    sol = lx.linear_solve(bad, jnp.ones(400), nativax.PETSc(preset="mumps_lu"), throw=False)
    assert sol.result == lx.RESULTS.nonfinite_input
    # The engine still works afterwards.
    sol = lx.linear_solve(p, jnp.ones(400), nativax.PETSc(preset="mumps_lu"))
    assert sol.result == lx.RESULTS.successful


def test_bad_input():
    with pytest.raises(ValueError, match="preset"):
        nativax.PETSc(preset="mumps")
    with pytest.raises(ValueError, match="options"):
        nativax.PETSc(preset=None, options="")
    with pytest.raises(ValueError, match="PETSc options"):
        nativax.PETSc(options="ksp_type cg")
    with pytest.raises(TypeError, match="options"):
        nativax.PETSc(options=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="rtol"):
        nativax.PETSc(preset="hypre", rtol=-1.0)
    with pytest.raises(ValueError, match="max_steps"):
        nativax.PETSc(preset="hypre", max_steps=0)
    rect = nativax.SparseOperator.from_scipy(sp.random(4, 5, density=0.5, random_state=0))
    with pytest.raises(ValueError, match="square"):
        lx.linear_solve(rect, jnp.ones(4), nativax.PETSc())
    cd = nativax.SparseOperator.from_scipy(convection_diffusion(4) + sp.eye(16, k=3))
    with pytest.raises(ValueError, match="symmetric"):
        lx.linear_solve(cd, jnp.ones(16), nativax.PETSc(preset="mumps_cholesky"))
    cplx = nativax.SparseOperator.from_scipy(sp.csr_matrix(poisson2d(3), dtype=complex))
    with pytest.raises(ValueError, match="complex"):
        lx.linear_solve(cplx, jnp.ones(9, complex), nativax.PETSc())
    op = nativax.SparseOperator.from_scipy(poisson2d(3))
    with pytest.raises(ValueError):
        lx.linear_solve(op, jnp.ones(8), nativax.PETSc())
    with pytest.raises(ValueError, match="cols"):
        petsc.LocalRows(np.array([0, 1]), np.array([7]), 4, 0)
    with pytest.raises(ValueError, match="increasing"):
        petsc.LocalRows(np.array([0, 2]), np.array([1, 0]), 4, 0)
    with pytest.raises(ValueError, match="row_start"):
        petsc.LocalRows(np.array([0, 1]), np.array([0]), 4, 4)
    with pytest.raises(ValueError, match="shape"):
        petsc.RowPartitionedOperator(jnp.ones(3), petsc.LocalRows(np.array([0, 1]), np.array([0]), 4, 0))
    with pytest.raises(ValueError, match="rank"):
        petsc.block_rows(10, 3, 3)


def test_row_partitioned_single_rank_matches_and_grad():
    """A RowPartitionedOperator holding all rows (1 rank): solve, mv (halo gather) and grad wrt values."""
    a = convection_diffusion(7) / 50.0
    n = a.shape[0]
    op = petsc.RowPartitionedOperator.from_scipy_rows(a, 0, n)
    x0 = jnp.linspace(0.0, 1.0, n)
    np.testing.assert_allclose(np.asarray(op.mv(x0)), a @ np.asarray(x0), rtol=1e-12)
    b = jnp.asarray(np.random.default_rng(3).standard_normal(n))
    solver = nativax.PETSc(preset="mumps_lu")

    def loss(v):
        return jnp.sum(jnp.sin(lx.linear_solve(petsc.RowPartitionedOperator(v, op.rows), b, solver).value))

    dense_rows = np.repeat(np.arange(n), np.diff(op.rows.row_ptr))

    def ref(v):
        mat = jnp.zeros((n, n)).at[dense_rows, op.rows.cols].set(v)
        return jnp.sum(jnp.sin(jnp.linalg.solve(mat, b)))

    np.testing.assert_allclose(np.asarray(jax.grad(loss)(op.values)), np.asarray(jax.grad(ref)(op.values)),
                               rtol=1e-8, atol=1e-12)
    assert petsc.rank_and_size() == (0, 1)


def test_example_runs():
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, str(root / "examples" / "petsc_poisson.py"), "--small"], cwd=root,
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert "all > 0: True" in proc.stdout
