"""A stiff reaction network: Robertson kinetics in a chain of weakly coupled cells, Kvaerno5 + KLU.

Each of `cells` cells holds the three Robertson species (rates 0.04, 10^4, 3·10^7,
the first one varying a little from cell to cell), and neighbouring cells exchange
every species by weak diffusion. The Jacobian is block diagonal with 3 x 3 blocks
plus the coupling diagonals (8 of the 9 block entries are structurally nonzero; at most 5
nonzeros a row), n = 3 * cells states.
diffrax's `Kvaerno5` solves its stage equations with `VeryChord`; given
`nativax.KLU()` as the linear solver, the Jacobian's pattern is detected once, 5-6
JVPs build it sparse, and KLU factorizes it (no fill-in). diffrax's default dense LU
is run alongside where it is feasible (n in the hundreds): same steps, same answer.

    python examples/robertson_cells.py           # n = 30,000 with KLU; dense comparison at n = 600
    python examples/robertson_cells.py --small   # n = 600 and 150 (used by the tests)
"""

import argparse
import os
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # fair single-threaded dense baseline, as KLU

import jax

jax.config.update("jax_enable_x64", True)

import diffrax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import nativax  # noqa: E402
from nativax import sparsity  # noqa: E402

COUPLING = 1e-2  # exchange rate between neighbouring cells (weak against the kinetics)


def robertson_cells(cells: int):
    """Right-hand side and initial state (all mass in species 1) of the cell chain."""
    k1 = jnp.asarray(0.04 * (1.0 + 0.5 * np.sin(np.arange(cells))))

    def rhs(t, y, args):
        c = y.reshape(cells, 3)
        y1, y2, y3 = c[:, 0], c[:, 1], c[:, 2]
        r1, r2, r3 = k1 * y1, 1e4 * y2 * y3, 3e7 * y2 * y2
        kinetics = jnp.concatenate([(-r1 + r2)[:, None], (r1 - r2 - r3)[:, None], r3[:, None]], axis=1)
        p = jnp.pad(c, ((1, 1), (0, 0)), mode="edge")  # no-flux ends
        exchange = COUPLING * (p[:-2] + p[2:] - 2 * c)
        return (kinetics + exchange).ravel()

    y0 = jnp.tile(jnp.asarray([1.0, 0.0, 0.0]), cells)
    return rhs, y0


def make_solve(cells: int, linear_solver, t1: float, rtol: float, atol: float):
    rhs, y0 = robertson_cells(cells)
    if linear_solver is None:  # diffrax's default: dense LU of the materialised Jacobian
        solver = diffrax.Kvaerno5()
    else:
        root_finder = diffrax.with_stepsize_controller_tols(diffrax.VeryChord)(linear_solver=linear_solver)
        solver = diffrax.Kvaerno5(root_finder=root_finder)

    @jax.jit
    def solve(y0):
        sol = diffrax.diffeqsolve(
            diffrax.ODETerm(rhs), solver, t0=0.0, t1=t1, dt0=1e-6, y0=y0,
            stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol),
            max_steps=100_000,
        )
        return sol.ys[-1], sol.stats["num_steps"]

    return solve, y0


def timed(cells: int, linear_solver, t1: float = 40.0, rtol: float = 1e-6, atol: float = 1e-10):
    """Compile ahead of time, then one timed run (KLU's caches cleared first)."""
    solve, y0 = make_solve(cells, linear_solver, t1, rtol, atol)
    start = time.perf_counter()
    compiled = solve.lower(y0).compile()
    compile_time = time.perf_counter() - start
    nativax.clear_caches()
    start = time.perf_counter()
    y, steps = jax.block_until_ready(compiled(y0))
    run = time.perf_counter() - start
    return np.asarray(y), int(steps), compile_time, run


def main(small: bool) -> dict:
    big, compare = (200, 50) if small else (10_000, 200)
    rhs, y0 = robertson_cells(big)
    start = time.perf_counter()
    pattern = sparsity.jacobian_sparsity(lambda y: rhs(0.0, y, None), y0)
    colors = sparsity.colors_for(pattern)
    detect = time.perf_counter() - start
    ncolors = int(colors.max()) + 1
    print(f"n = {y0.size:,}: Jacobian nnz = {pattern.nnz:,}, {ncolors} colors "
          f"(lower bound {sparsity.lower_bound(pattern)}), detection + coloring {detect:.2f} s")
    y_big, steps, compile_time, run = timed(big, nativax.KLU())
    mass = float(np.max(np.abs(y_big.reshape(-1, 3).sum(axis=1) - 1.0)))
    print(f"n = {y0.size:,}: Kvaerno5 + KLU: {steps} steps, {run:.2f} s run (+{compile_time:.1f} s compile), "
          f"mass conservation error {mass:.1e}")

    n_small = 3 * compare
    y_k, steps_k, compile_k, run_k = timed(compare, nativax.KLU())
    y_d, steps_d, compile_d, run_d = timed(compare, None)
    err = float(np.max(np.abs(y_k - y_d)) / np.max(np.abs(y_d)))
    print(f"n = {n_small}: Kvaerno5 + KLU:   {steps_k} steps, {run_k:.3f} s run (+{compile_k:.1f} s compile)")
    print(f"n = {n_small}: Kvaerno5 + dense: {steps_d} steps, {run_d:.3f} s run (+{compile_d:.1f} s compile)")
    print(f"n = {n_small}: KLU {run_d / run_k:.1f}x faster than dense (relative difference {err:.1e})")
    return {
        "n": int(y0.size), "nnz": pattern.nnz, "expected_nnz": 8 * big + 6 * (big - 1), "colors": ncolors,
        "lower_bound": sparsity.lower_bound(pattern), "steps": steps, "run": run, "compile": compile_time,
        "mass_err": mass, "n_compare": n_small, "steps_klu": steps_k, "steps_dense": steps_d,
        "run_klu": run_k, "run_dense": run_d, "rel_err": err,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="tiny sizes (CI)")
    args = parser.parse_args()
    main(args.small or os.environ.get("NATIVAX_EXAMPLES_SMALL") == "1")
