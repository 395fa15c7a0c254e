"""AMG benchmark: 2D Poisson (n = 10^6) and 3D Poisson (n >= 10^5), solved to rtol 1e-8 by

* nativax AMG, JAX engine (PCG, V-cycle, damped Jacobi),
* pyamg's own solver on the SAME hierarchy (same P/R, same per-level Jacobi damping, `accel="cg"`),
* nativax KLU (sparse direct).

Setup = host setup (pyamg + index maps) and, for nativax, the jitted numeric resetup; solve = time to 1e-8.
"PCG/iter" = PCG loop time / iterations, the like-for-like number (same hierarchy, same smoother).

    python benchmarks/amg_bench.py            # 2D n=1e6, 3D n=103,823
    python benchmarks/amg_bench.py --quick    # small sizes
"""

import argparse
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import lineax as lx  # noqa: E402
import numpy as np  # noqa: E402
import problems  # noqa: E402  (benchmarks/problems.py: the shared P1-P5 builders)
import scipy.sparse as sp  # noqa: E402

import nativax  # noqa: E402
from nativax._amg import cycle as _amg_cycle  # noqa: E402
from nativax._amg import setup as _amg_setup  # noqa: E402
from nativax.amg import AMG  # noqa: E402

RTOL = 1e-8


def poisson3d(m: int) -> sp.csr_matrix:
    """7-point Laplacian on an m^3 grid."""
    t = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(m, m))
    eye = sp.identity(m)
    return (sp.kron(sp.kron(t, eye), eye) + sp.kron(sp.kron(eye, t), eye) + sp.kron(sp.kron(eye, eye), t)).tocsr()


def best(fn, reps: int) -> tuple[float, object]:
    out, times = None, []
    for _ in range(reps):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def bench_nativax(a: sp.csr_matrix, b: np.ndarray, reps: int) -> dict:
    op = nativax.SparseOperator.from_scipy(a, tags=(lx.symmetric_tag, lx.positive_semidefinite_tag))
    bj = jnp.asarray(b)
    _amg_setup.clear()
    t0 = time.perf_counter()
    solver = AMG(krylov="cg", rtol=RTOL).setup(op)
    host = time.perf_counter() - t0
    hier = jax.jit(lambda s, o: s.hierarchy(o))
    pcg = jax.jit(lambda s, st, v: s.compute(st, v, {}))
    full = jax.jit(lambda s, o, v: lx.linear_solve(o, v, s).value)
    state = hier(solver, op)
    jax.block_until_ready(pcg(solver, state, bj))  # compile
    jax.block_until_ready(full(solver, op, bj))
    t_resetup, state = best(lambda: jax.block_until_ready(hier(solver, op)), reps)
    t_pcg, (x, _, stats) = best(lambda: jax.block_until_ready(pcg(solver, state, bj)), reps)
    t_full, _ = best(lambda: jax.block_until_ready(full(solver, op, bj)), reps)
    iters = int(stats["num_steps"])
    res = np.linalg.norm(b - a @ np.asarray(x)) / np.linalg.norm(b)
    rho = [float(lv.rho) for lv in state.hierarchy.levels]
    return dict(setup=host + t_resetup, solve=t_full, pcg=t_pcg, iters=iters, res=res, rho=rho,
                note=f"host {host:.2f}s + resetup {t_resetup:.2f}s; jit solve incl. resetup")


def bench_pyamg(a: sp.csr_matrix, b: np.ndarray, rho: list[float], reps: int) -> dict:
    """pyamg on the same hierarchy: the first value set's setup, with our per-level Jacobi damping."""
    from pyamg.relaxation.smoothing import change_smoothers

    t0 = time.perf_counter()
    ml = _amg_setup._pyamg_solver(a, "smoothed_aggregation", 10, 300)
    setup = time.perf_counter() - t0
    smoothers = [("jacobi", {"omega": float(_amg_cycle.JACOBI_OMEGA / r), "withrho": False, "iterations": 1})
                 for r in rho[:-1]]
    change_smoothers(ml, smoothers, smoothers)
    residuals: list[float] = []

    def run():
        residuals.clear()
        return ml.solve(b, tol=RTOL, accel="cg", maxiter=500, residuals=residuals)

    t, x = best(run, reps)
    iters = len(residuals) - 1
    res = np.linalg.norm(b - a @ x) / np.linalg.norm(b)
    return dict(setup=setup, solve=t, pcg=t, iters=iters, res=res, note=f"levels {len(ml.levels)}")


def bench_klu(a: sp.csr_matrix, b: np.ndarray) -> dict:
    op = nativax.SparseOperator.from_scipy(a)
    bj = jnp.asarray(b)
    solve = jax.jit(lambda o, v: lx.linear_solve(o, v, nativax.KLU()).value)
    t0 = time.perf_counter()
    x = jax.block_until_ready(solve(op, bj))  # compile + factorization
    setup = time.perf_counter() - t0
    t1 = time.perf_counter()
    x = jax.block_until_ready(solve(op, bj))  # cached factorization
    solve_t = time.perf_counter() - t1
    res = np.linalg.norm(b - a @ np.asarray(x)) / np.linalg.norm(b)
    return dict(setup=setup, solve=solve_t, pcg=float("nan"), iters=0, res=res,
                note="setup = first call (factorize); solve = cached factorization")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--no-klu", action="store_true", help="skip KLU (slow on the 3D problem)")
    args = ap.parse_args()
    sizes = [("2D Poisson", problems.poisson2d, 100 if args.quick else 1000),
             ("3D Poisson", poisson3d, 20 if args.quick else 47)]
    rows = []
    for name, build, m in sizes:
        a = build(m)
        b = np.random.default_rng(0).standard_normal(a.shape[0])
        nx = bench_nativax(a, b, args.reps)
        py = bench_pyamg(a, b, nx["rho"], args.reps)
        rows.append((name, a.shape[0], "nativax AMG (JAX)", nx))
        rows.append((name, a.shape[0], "pyamg (same hierarchy)", py))
        if not args.no_klu:
            rows.append((name, a.shape[0], "nativax KLU", bench_klu(a, b)))
        ratio = nx["pcg"] / nx["iters"] / (py["pcg"] / py["iters"])
        rows.append((name, a.shape[0], "PCG/iter ratio nativax/pyamg", dict(ratio=ratio)))
    print(f"\nAMG benchmark (rtol {RTOL:g}, {jax.devices()[0].platform}, {nativax._core.native.lib.num_threads()} threads)")
    print(f"{'problem':<11} {'n':>9} {'solver':<30} {'setup s':>8} {'solve s':>8} {'iters':>5} "
          f"{'PCG/iter ms':>11} {'rel.res':>9}  note")
    for name, n, who, r in rows:
        if "ratio" in r:
            print(f"{name:<11} {n:>9} {who:<30} {'':>8} {'':>8} {'':>5} {r['ratio']:>11.3f}")
            continue
        per = 1e3 * r["pcg"] / r["iters"] if r["iters"] else float("nan")
        print(f"{name:<11} {n:>9} {who:<30} {r['setup']:>8.2f} {r['solve']:>8.3f} {r['iters']:>5} "
              f"{per:>11.2f} {r['res']:>9.1e}  {r['note']}")


if __name__ == "__main__":
    main()
