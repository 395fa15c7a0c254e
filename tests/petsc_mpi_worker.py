"""One MPI rank of tests/test_petsc_mpi.py (started by `mpiexec -n N`): each rank holds only its own rows of a
row-partitioned matrix, solves through nativax.PETSc inside jit, differentiates, and prints one JSON line with
its errors against the single-process (scipy/numpy) answer of the same global problem."""

import json
import sys
import time
from pathlib import Path

import jax

jax.config.update("jax_platforms", "cpu")
jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import lineax as lx  # noqa: E402
import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402
import scipy.sparse.linalg as spla  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import nativax  # noqa: E402
from nativax import petsc  # noqa: E402
from petsc_problems import convection_diffusion, poisson2d  # noqa: E402


def case(a: sp.csr_matrix, preset: str, rank: int, size: int, rtol: float = 1e-12, grad: bool = True) -> dict:
    """Solve A x = b and (grad=True) the gradient of the global loss sum(w * x) wrt this rank's values and b."""
    n = a.shape[0]
    start, stop = petsc.block_rows(n, rank, size)
    op = petsc.RowPartitionedOperator.from_scipy_rows(a, start, stop)
    rng = np.random.default_rng(7)
    b_full, w_full = rng.standard_normal(n), rng.standard_normal(n)
    b, w = jnp.asarray(b_full[start:stop]), jnp.asarray(w_full[start:stop])
    solver = nativax.PETSc(preset=preset, rtol=rtol)

    @jax.jit
    def local_loss(values, b):
        x = lx.linear_solve(petsc.RowPartitionedOperator(values, op.rows), b, solver).value
        return jnp.dot(w, x), x

    # Every rank differentiates its own term; the adjoint solve is collective, so each rank gets its block of
    # the gradient of the global loss sum_p w_p . x_p.
    if grad:
        (_, x), (gv, gb) = jax.value_and_grad(local_loss, argnums=(0, 1), has_aux=True)(op.values, b)
    else:
        _, x = local_loss(op.values, b)
    # Single-process answer: x = A^-1 b, lambda = A^-T w, dL/dA_ij = -lambda_i x_j, dL/db = lambda.
    csc = sp.csc_matrix(a)
    x_ref = spla.spsolve(csc, b_full)
    lam = spla.spsolve(csc.T.tocsc(), w_full)
    rows = start + np.repeat(np.arange(stop - start), np.diff(op.rows.row_ptr))
    gv_ref = -lam[rows] * x_ref[op.rows.cols]
    scale = np.abs(x_ref).max()
    mv = op.mv(jnp.asarray(x_ref[start:stop]))  # halo gather: A x_ref on this rank's rows = b
    out = {
        "x_err": float(np.abs(np.asarray(x) - x_ref[start:stop]).max() / scale),
        "mv_err": float(np.abs(np.asarray(mv) - b_full[start:stop]).max() / np.abs(b_full).max()),
        "rows": [start, stop],
    }
    if grad:
        out["gv_err"] = float(np.abs(np.asarray(gv) - gv_ref).max() / np.abs(gv_ref).max())
        out["gb_err"] = float(np.abs(np.asarray(gb) - lam[start:stop]).max() / np.abs(lam).max())
    return out


def main() -> None:
    t0 = time.perf_counter()
    rank, size = petsc.rank_and_size()
    out: dict = {"rank": rank, "size": size}
    p2 = poisson2d(30)
    cd = sp.csr_matrix(convection_diffusion(24) / 100.0)
    out["poisson_mumps_cholesky"] = case(p2, "mumps_cholesky", rank, size)
    out["poisson_hypre"] = case(p2, "hypre", rank, size)
    out["convdiff_mumps_lu"] = case(cd, "mumps_lu", rank, size)
    out["convdiff_superlu_dist"] = case(cd, "superlu_dist", rank, size, grad=False)  # no adjoint (see docs)
    # A NaN on the last rank only: every rank reports the same status, nobody hangs.
    start, stop = petsc.block_rows(p2.shape[0], rank, size)
    op = petsc.RowPartitionedOperator.from_scipy_rows(p2, start, stop)
    vals = op.values.at[0].set(jnp.nan) if rank == size - 1 else op.values
    sol = lx.linear_solve(petsc.RowPartitionedOperator(vals, op.rows), jnp.ones(stop - start),
                          nativax.PETSc(preset="mumps_lu"), throw=False)
    out["nan_status"] = int(sol.stats["petsc_status"])
    out["nan_result_is_nonfinite"] = bool(sol.result == lx.RESULTS.nonfinite_input)
    out["cache"] = petsc.cache_info()
    out["seconds"] = time.perf_counter() - t0
    print("RESULT " + json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
