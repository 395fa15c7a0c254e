"""Stiff 2D Brusselator with diffrax's Kvaerno5, solving its Newton systems with KLU.

diffrax hands the linear solver of its implicit stages a matrix-free
`lx.FunctionLinearOperator` (the linearised stage function). `nativax.KLU()` turns it
into a sparse matrix (sparsity detection on the jaxpr + column coloring + one JVP per
color, see `nativax.sparsity`) and factorizes that, instead of materialising and
LU-factorising a dense `n x n` matrix.

    python examples/brusselator_kvaerno.py           # n = 2 * 100^2 = 20,000 states
    python examples/brusselator_kvaerno.py --small   # a few seconds (used by the tests)

Prints the KLU run at full size and a KLU-versus-dense comparison at a size where the
dense solver still fits.
"""

import argparse
import os
import time

# The dense baseline's LU runs in OpenBLAS, whose threads spin against other processes
# on a small shared machine; single-threaded is the fair comparison with KLU (also
# single-threaded). Set OPENBLAS_NUM_THREADS yourself to override.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import jax

jax.config.update("jax_enable_x64", True)

import diffrax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import nativax  # noqa: E402
from nativax.sparsity import jacobian_sparsity  # noqa: E402

A, B, ALPHA = 3.4, 1.0, 10.0


def brusselator(grid: int):
    """Right-hand side on a `grid x grid` mesh of the unit square with no-flux
    boundaries; the state is `[u, v]` flattened (`n = 2 * grid**2`)."""
    scale = ALPHA * grid**2  # alpha / dx^2

    def laplacian(w):
        p = jnp.pad(w, 1, mode="edge")  # mirror ghost cells: zero normal flux
        return scale * (p[:-2, 1:-1] + p[2:, 1:-1] + p[1:-1, :-2] + p[1:-1, 2:] - 4 * w)

    def rhs(t, y, args):
        u, v = y.reshape(2, grid, grid)
        uuv = u * u * v
        du = B + uuv - (A + 1.0) * u + laplacian(u)
        dv = A * u - uuv + laplacian(v)
        return jnp.concatenate([du.ravel(), dv.ravel()])

    x = (np.arange(grid) + 0.5) / grid
    xx, yy = np.meshgrid(x, x, indexing="ij")
    y0 = np.concatenate([(22 * yy * (1 - yy) ** 1.5).ravel(), (27 * xx * (1 - xx) ** 1.5).ravel()])
    return rhs, jnp.asarray(y0)


def make_solve(grid: int, linear_solver, t1: float, rtol: float):
    rhs, y0 = brusselator(grid)
    if linear_solver is None:  # diffrax's default: dense LU of the materialised Jacobian
        solver = diffrax.Kvaerno5()
    else:
        root_finder = diffrax.with_stepsize_controller_tols(diffrax.VeryChord)(
            linear_solver=linear_solver
        )
        solver = diffrax.Kvaerno5(root_finder=root_finder)

    @jax.jit
    def solve(y0):
        sol = diffrax.diffeqsolve(
            diffrax.ODETerm(rhs), solver, t0=0.0, t1=t1, dt0=1e-4, y0=y0,
            stepsize_controller=diffrax.PIDController(rtol=rtol, atol=rtol),
            max_steps=100_000,
        )
        return sol.ys[-1], sol.stats["num_steps"]

    return solve, y0


def timed(grid: int, linear_solver, t1: float, rtol: float):
    """Compile ahead of time, then one timed run. KLU's native caches are cleared
    first, so no factorization is reused from an earlier run of the same problem."""
    solve, y0 = make_solve(grid, linear_solver, t1, rtol)
    start = time.perf_counter()
    compiled = solve.lower(y0).compile()
    compile_time = time.perf_counter() - start
    nativax.clear_caches()
    start = time.perf_counter()
    y, steps = jax.block_until_ready(compiled(y0))
    run = time.perf_counter() - start
    return np.asarray(y), int(steps), compile_time, run


def expected_nnz(grid: int) -> int:
    """Two 5-point Laplacians with no-flux boundaries (5/4/3 entries in interior/edge/
    corner rows) plus the u-v coupling diagonals."""
    return 2 * (5 * grid**2 - 4 * grid) + 2 * grid**2


def main(small: bool) -> dict:
    big, compare = (12, 8) if small else (100, 20)
    t1, rtol = (0.5, 1e-5) if small else (1.0, 1e-5)

    rhs, y0 = brusselator(big)
    start = time.perf_counter()
    pattern = jacobian_sparsity(lambda y: rhs(0.0, y, None), y0)
    detect = time.perf_counter() - start
    colors = nativax.sparsity.colors_for(pattern)
    ncolors, bound = int(colors.max()) + 1, nativax.sparsity.lower_bound(pattern)
    print(
        f"n = {y0.size}: Jacobian pattern nnz = {pattern.nnz} found in {detect:.3f} s, "
        f"{ncolors} colors (lower bound {bound})"
    )
    _, steps, compile_time, run = timed(big, nativax.KLU(), t1, rtol)
    print(f"n = {y0.size}: Kvaerno5 + KLU: {steps} steps, {run:.2f} s run (+{compile_time:.2f} s compile)")

    n_small = 2 * compare**2
    y_klu, steps_k, compile_k, run_k = timed(compare, nativax.KLU(), t1, rtol)
    y_dense, steps_d, compile_d, run_d = timed(compare, None, t1, rtol)
    err = float(np.max(np.abs(y_klu - y_dense)) / np.max(np.abs(y_dense)))
    print(f"n = {n_small}: Kvaerno5 + KLU:   {steps_k} steps, {run_k:.3f} s run (+{compile_k:.2f} s compile)")
    print(f"n = {n_small}: Kvaerno5 + dense: {steps_d} steps, {run_d:.3f} s run (+{compile_d:.2f} s compile)")
    print(f"n = {n_small}: speedup of KLU over dense: {run_d / run_k:.1f}x (relative difference {err:.1e})")
    return {
        "n": int(y0.size), "steps": steps, "run": run, "compile": compile_time,
        "detect": detect, "nnz": pattern.nnz, "expected_nnz": expected_nnz(big),
        "colors": ncolors, "lower_bound": bound,
        "n_compare": n_small, "run_klu": run_k, "run_dense": run_d, "rel_err": err,
        "steps_klu": steps_k, "steps_dense": steps_d,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="tiny sizes (CI)")
    args = parser.parse_args()
    main(args.small or os.environ.get("NATIVAX_EXAMPLES_SMALL") == "1")
