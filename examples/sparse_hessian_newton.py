"""Newton's method on a sparse Hessian: minimise ½uᵀLu + Σu⁴ − fᵀu on a 2-D grid with KLU.

`L` is the 5-point Laplacian (zero boundary values) on an `m x m` grid, so the
Hessian `L + 12 diag(u²)` has the 5-point pattern. `nativax.sparsity.hessian` detects
that pattern from the gradient's jaxpr, star-colors it (5 colors) and builds the
sparse Hessian from 5 Hessian-vector products; each Newton step solves with
`nativax.KLU()`. The same minimisation also runs through `optimistix.Newton` on the
gradient, tagged symmetric, so KLU's operator is star-compressed the same way.
`--small` checks both against a dense Newton (`jax.hessian`, `jnp.linalg.solve`).

    python examples/sparse_hessian_newton.py           # m = 320: n = 102,400 unknowns
    python examples/sparse_hessian_newton.py --small   # m = 12 (used by the tests)
"""

import argparse
import os
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import lineax as lx  # noqa: E402
import numpy as np  # noqa: E402
import optimistix as optx  # noqa: E402

import nativax  # noqa: E402
from nativax import sparsity  # noqa: E402


def energy(m: int):
    """`E(u, f) = h²(½uᵀLu + Σu⁴ − fᵀu)` with `L = -Δ_h` (zero boundary values): a
    discretised `∫ ½|∇u|² + u⁴ − f u`."""
    h2 = 1.0 / (m + 1) ** 2

    def e(u, f):
        w = u.reshape(m, m)
        p = jnp.pad(w, 1)
        lu = (4 * w - p[:-2, 1:-1] - p[2:, 1:-1] - p[1:-1, :-2] - p[1:-1, 2:]) / h2
        return h2 * (0.5 * jnp.vdot(w, lu) + jnp.sum(w**4) - jnp.vdot(f, u))

    return e


def newton(e, u0, f, hessian, tol: float = 1e-10, max_steps: int = 30):
    """Newton steps `u -= H(u)^-1 grad E(u)` until `max|grad E| <= tol`; `hessian(u, f, g)`
    returns `H(u)^-1 g`. Returns the minimiser, the number of steps and the last |grad|."""

    def cond(state):
        _, k, g = state
        return (k < max_steps) & (g > tol)

    def body(state):
        u, k, _ = state
        g = jax.grad(e)(u, f)
        return u - hessian(u, f, g), k + 1, jnp.max(jnp.abs(g))

    return jax.lax.while_loop(cond, body, (u0, 0, jnp.inf))


def sparse_step(e):
    def solve(u, f, g):
        H = sparsity.hessian(e, u, f)  # SparseOperator, symmetric tag, 5 HVPs
        return lx.linear_solve(H, g, nativax.KLU()).value

    return solve


def dense_step(e):
    def solve(u, f, g):
        return jnp.linalg.solve(jax.hessian(e)(u, f), g)

    return solve


def main(small: bool) -> dict:
    m = 12 if small else 320
    n = m * m
    e = energy(m)
    x = (np.arange(m) + 1.0) / (m + 1)
    f = jnp.asarray(100 * np.outer(np.sin(np.pi * x), np.sin(2 * np.pi * x)).ravel())  # u = O(1)
    u0 = jnp.zeros(n)

    start = time.perf_counter()
    pattern = sparsity.hessian_sparsity(e, u0, f)
    colors = sparsity.color_star(pattern)
    detect = time.perf_counter() - start
    ncolors = int(colors.max()) + 1
    print(f"n = {n:,}: Hessian pattern nnz = {pattern.nnz:,}, {ncolors} star colors, "
          f"detection + coloring {detect:.2f} s")

    start = time.perf_counter()
    run = jax.jit(lambda u0, f: newton(e, u0, f, sparse_step(e))).lower(u0, f).compile()
    compile_time = time.perf_counter() - start
    nativax.clear_caches()  # no factorization reused from an earlier run
    start = time.perf_counter()
    u, steps, _ = jax.block_until_ready(run(u0, f))
    again = time.perf_counter() - start
    steps = int(steps)
    final = float(jnp.max(jnp.abs(jax.grad(e)(u, f))))
    print(f"Newton + KLU: {steps} steps to |grad| = {final:.1e}, {again:.2f} s (+{compile_time:.2f} s compile)")

    # optimistix: Newton root find on the gradient; the symmetric tag selects star coloring in KLU.
    solver = optx.Newton(rtol=1e-10, atol=1e-10, linear_solver=nativax.KLU())
    root = jax.jit(lambda u0, f: optx.root_find(
        jax.grad(e), solver, u0, f, tags=frozenset({lx.symmetric_tag}), max_steps=50).value)
    nativax.clear_caches()
    start = time.perf_counter()
    u_optx = jax.block_until_ready(root(u0, f))
    t_optx = time.perf_counter() - start
    optx_diff = float(jnp.max(jnp.abs(u_optx - u)) / jnp.max(jnp.abs(u)))
    print(f"optimistix.Newton + KLU: {t_optx:.2f} s (with compile), max rel. difference {optx_diff:.1e}")

    out = {"n": n, "nnz": pattern.nnz, "expected_nnz": 5 * n - 4 * m, "colors": ncolors,
           "steps": steps, "final_grad": final, "compile": compile_time, "run": again, "optx_diff": optx_diff}
    if small:
        u_dense, _, _ = jax.jit(lambda u0, f: newton(e, u0, f, dense_step(e)))(u0, f)
        H = sparsity.hessian(e, u, f)
        out["dense_diff"] = float(jnp.max(jnp.abs(u - u_dense)) / jnp.max(jnp.abs(u_dense)))
        out["hessian_err"] = float(jnp.max(jnp.abs(H.as_matrix() - jax.hessian(e)(u, f))))
        print(f"vs dense Newton: max rel. difference {out['dense_diff']:.1e}; "
              f"Hessian max abs error {out['hessian_err']:.1e}")
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="tiny sizes (CI)")
    args = parser.parse_args()
    main(args.small or os.environ.get("NATIVAX_EXAMPLES_SMALL") == "1")
