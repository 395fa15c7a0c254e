"""2-D Poisson with PETSc through nativax: each process assembles and holds only its own rows.

-Δu = f on the unit square, u = 0 on the boundary, 5-point finite differences on an N x N grid, with the
manufactured solution u = sin(πx) sin(πy). Every process (MPI rank) builds the CSR rows it owns (global column
indices, no global matrix anywhere) as a `nativax.petsc.RowPartitionedOperator`, then solves inside `jit` with
MUMPS Cholesky (direct) and CG + hypre BoomerAMG, and differentiates a loss through the solve (the adjoint is
another PETSc solve on the same factorization / AMG hierarchy). Each rank prints its own numbers.

Run:  python examples/petsc_poisson.py [--small]                 (1 process; --small: N = 40, else N = 400)
      mpiexec -n 2 python examples/petsc_poisson.py [--small]    (2 ranks; as root on a single machine, see
                                                                  docs/petsc.md for the Open MPI flags)
"""

import argparse
import os
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import lineax as lx  # noqa: E402
import numpy as np  # noqa: E402

import nativax  # noqa: E402
from nativax import petsc  # noqa: E402


def local_rows(n_side: int, start: int, stop: int):
    """CSR of rows [start, stop) of the 5-point Laplacian (scaled by 1/h^2): row_ptr, cols, values."""
    h = 1.0 / (n_side + 1)
    row_ptr, cols, vals = [0], [], []
    for r in range(start, stop):
        i, j = divmod(r, n_side)
        entries = {r: 4.0}
        for di, dj in ((-1, 0), (0, -1), (0, 1), (1, 0)):
            if 0 <= i + di < n_side and 0 <= j + dj < n_side:
                entries[(i + di) * n_side + (j + dj)] = -1.0
        for c in sorted(entries):
            cols.append(c)
            vals.append(entries[c] / h**2)
        row_ptr.append(len(cols))
    return np.array(row_ptr), np.array(cols), np.array(vals)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--small", action="store_true")
    args = ap.parse_args()
    small = args.small or os.environ.get("NATIVAX_EXAMPLE_SMALL") == "1"
    n_side = 40 if small else 400
    n = n_side * n_side
    rank, size = petsc.rank_and_size()
    start, stop = petsc.block_rows(n, rank, size)
    row_ptr, cols, vals = local_rows(n_side, start, stop)
    op = petsc.RowPartitionedOperator.from_local_csr(row_ptr, cols, vals, n, start,
                                                     tags=(lx.symmetric_tag, lx.positive_semidefinite_tag))
    h = 1.0 / (n_side + 1)
    i, j = np.divmod(np.arange(start, stop), n_side)
    u_exact = np.sin(np.pi * (i + 1) * h) * np.sin(np.pi * (j + 1) * h)
    f = jnp.asarray(2 * np.pi**2 * u_exact)

    for preset in ("mumps_cholesky", "hypre"):
        solver = nativax.PETSc(preset=preset, rtol=1e-10)
        solve = jax.jit(lambda v, f, s=solver: lx.linear_solve(petsc.RowPartitionedOperator(v, op.rows, op.tags), f, s))
        t0 = time.perf_counter()
        sol = solve(op.values, f)
        u = np.asarray(sol.value)
        dt = time.perf_counter() - t0
        err = np.abs(u - u_exact).max()
        print(f"rank {rank}/{size} rows [{start}, {stop}) {preset:15s}: max |u - u_exact| = {err:.2e} "
              f"(O(h^2) = {h * h:.1e}), {int(sol.stats['num_steps'])} steps, {dt:.2f} s incl. compile", flush=True)
        assert err < 2 * h, "discretisation error too large"

    # Sensitivity of this rank's part of sum(u) to the source f (an adjoint solve; collective on every rank).
    solver = nativax.PETSc(preset="mumps_cholesky")
    g = jax.grad(lambda f: jnp.sum(lx.linear_solve(op, f, solver).value))(f)
    # A is symmetric, so d sum(u)/d f = A^{-1} 1 >= 0 (the discrete Green's function summed): positive.
    print(f"rank {rank}/{size}: d sum(u) / d f  in [{float(g.min()):.3e}, {float(g.max()):.3e}] (all > 0: "
          f"{bool(jnp.all(g > 0))})", flush=True)
    assert bool(jnp.all(g > 0))
    print(f"rank {rank}/{size}: PETSc engine counters {petsc.cache_info()}")


if __name__ == "__main__":
    main()
