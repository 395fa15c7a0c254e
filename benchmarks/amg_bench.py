"""AMG benchmark: nativax.AMG against pyamg's own solver, one system each, rtol 1e-8 (relative 2-norm residual).

Problems: 2-D Poisson 500² and 1000², 3-D Poisson 64³, and 2-D diffusion 500² whose coefficient jumps by 10^4
between blocks (harmonic face means). Every (problem, solver) runs in a fresh child process, so caches start
empty and the peak RSS is that solver's own.

* nativax (host_setup="native" and "pyamg"): host setup = `AMG(krylov="cg").setup(op, resetup=False)` (the one-shot setup:
  aggregation, P, R, coarse operators directly, no Galerkin maps; one device transfer); first = the first
  `jit(lx.linear_solve)` call (compile + level-0 setup + solve); total = host setup + first call, the
  one-system time to solution; one-shot RSS = peak RSS up to then. "+maps" = `setup(op, resetup=True)` (also
  makes the Galerkin maps) and its first call; resetup = the jitted numeric setup for new values (same
  pattern) on that solver; solve = jitted PCG (hierarchy given). Also the preconditioner path:
  `lx.CG` preconditioned by `AMG.preconditioner` (compile, solve, iterations, reached residual).
* pyamg: `smoothed_aggregation_solver(A)` with its defaults, then `ml.solve(b, tol=1e-8, accel="cg")`;
  total = setup + solve.

    python benchmarks/amg_bench.py            # all four problems
    python benchmarks/amg_bench.py --quick    # small sizes
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np
import scipy.sparse as sp

RTOL = 1e-8


def poisson2d(m: int) -> sp.csr_matrix:
    t = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(m, m))
    eye = sp.identity(m)
    return (sp.kron(t, eye) + sp.kron(eye, t)).tocsr()


def poisson3d(m: int) -> sp.csr_matrix:
    t = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(m, m))
    eye = sp.identity(m)
    return (sp.kron(sp.kron(t, eye), eye) + sp.kron(sp.kron(eye, t), eye) + sp.kron(sp.kron(eye, eye), t)).tocsr()


def jumps2d(m: int, block: int = 25, contrast: float = 1e4, seed: int = 0) -> sp.csr_matrix:
    """-div(k grad u) on an m x m grid, k = 1 or `contrast` per block x block tile (random), Dirichlet."""
    rng = np.random.default_rng(seed)
    tiles = rng.random(((m + block - 1) // block,) * 2) < 0.5
    k = np.where(np.kron(tiles, np.ones((block, block)))[:m, :m], contrast, 1.0)
    idx = np.arange(m * m).reshape(m, m)
    rows, cols, vals = [], [], []
    diag = np.zeros((m, m))
    for axis in (0, 1):
        lo = [slice(None), slice(None)]
        hi = [slice(None), slice(None)]
        lo[axis], hi[axis] = slice(0, -1), slice(1, None)
        kf = 2 * k[tuple(lo)] * k[tuple(hi)] / (k[tuple(lo)] + k[tuple(hi)])
        rows += [idx[tuple(lo)].ravel(), idx[tuple(hi)].ravel()]
        cols += [idx[tuple(hi)].ravel(), idx[tuple(lo)].ravel()]
        vals += [-kf.ravel(), -kf.ravel()]
        diag[tuple(lo)] += kf
        diag[tuple(hi)] += kf
    # Dirichlet boundary faces: the cell's own coefficient.
    for s in ((0, slice(None)), (-1, slice(None)), (slice(None), 0), (slice(None), -1)):
        diag[s] += k[s]
    rows.append(idx.ravel())
    cols.append(idx.ravel())
    vals.append(diag.ravel())
    return sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(m * m,) * 2)


PROBLEMS = {"2-D Poisson 500²": (poisson2d, 500, 60), "2-D Poisson 1000²": (poisson2d, 1000, 80),
            "3-D Poisson 64³": (poisson3d, 64, 16), "2-D jumps 10^4 500²": (jumps2d, 500, 60)}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def child_nativax(a: sp.csr_matrix, b: np.ndarray, host_setup: str, reps: int) -> dict:
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import lineax as lx

    import nativax
    from nativax.amg import AMG

    spd = (lx.symmetric_tag, lx.positive_semidefinite_tag)
    op = nativax.SparseOperator.from_scipy(a, tags=spd)
    bj = jnp.asarray(b)
    jax.block_until_ready(bj)
    base = peak_rss_mb()
    t_host, solver = timed(lambda: AMG(krylov="cg", rtol=RTOL, host_setup=host_setup).setup(op, resetup=False))
    full = jax.jit(lambda s, o, v: lx.linear_solve(o, v, s))
    t_first, sol = timed(lambda: jax.block_until_ready(full(solver, op, bj)))
    res = float(np.linalg.norm(b - a @ np.asarray(sol.value)) / np.linalg.norm(b))
    iters = int(sol.stats["num_steps"])
    levels = int(sol.stats["levels"])
    rss_oneshot = peak_rss_mb()
    # A setup that also makes the Galerkin maps (resetup=True), for the numeric resetup with new values.
    t_host_maps, solver_maps = timed(lambda: AMG(krylov="cg", rtol=RTOL, host_setup=host_setup).setup(op, resetup=True))
    t_first_maps, _ = timed(lambda: jax.block_until_ready(full(solver_maps, op, bj)))
    # Numeric resetup for new values (same pattern), and the solve alone on a given hierarchy.
    hier = jax.jit(lambda s, o: s.hierarchy(o))
    op2 = nativax.SparseOperator(op.values * 2.0, op.pattern, op.tags)
    jax.block_until_ready(hier(solver_maps, op2))
    t_resetup = min(timed(lambda: jax.block_until_ready(hier(solver_maps, op2)))[0] for _ in range(reps))
    state = hier(solver, op)
    pcg = jax.jit(lambda s, st, v: s.compute(st, v, {}))
    jax.block_until_ready(pcg(solver, state, bj))
    t_solve = min(timed(lambda: jax.block_until_ready(pcg(solver, state, bj)))[0] for _ in range(reps))
    t_full = min(timed(lambda: jax.block_until_ready(full(solver, op2, bj)))[0] for _ in range(reps))
    out = dict(host=t_host, first=t_first, total=t_host + t_first, resetup=t_resetup, solve=t_solve,
               warm_full=t_full, iters=iters, res=res, levels=levels, rss_oneshot=rss_oneshot,
               host_maps=t_host_maps, first_maps=t_first_maps)
    # The preconditioner path: lx.CG preconditioned by one V-cycle (hierarchy set up once, passed as argument).
    # lineax's stopping rule is elementwise (|r_i| <= atol + rtol |b_i| and the same on the step in x, max
    # norm), so atol = rtol * ||b||_inf makes it ||r||_inf <~ rtol ||b||_inf (see docs/amg.md).
    cg = lx.CG(rtol=RTOL, atol=RTOL * float(np.max(np.abs(b))))

    def pre_solve(s, o, v):
        return lx.linear_solve(o, v, cg, options={"preconditioner": s.preconditioner(o)}, throw=False)

    pre = jax.jit(pre_solve)
    t_compile = timed(lambda: pre.lower(solver, op, bj).compile())[0]
    jax.block_until_ready(pre(solver, op, bj))
    t_pre, psol = min((timed(lambda: jax.block_until_ready(pre(solver, op, bj))) for _ in range(reps)),
                      key=lambda t: t[0])
    # The same with the preconditioner built once, outside (hierarchy given, as for `solve` above).
    import equinox as eqx

    precond = solver.preconditioner(op)
    held = eqx.filter_jit(lambda p, o, v: lx.linear_solve(o, v, cg, options={"preconditioner": p}, throw=False))
    jax.block_until_ready(held(precond, op, bj))
    t_held = min(timed(lambda: jax.block_until_ready(held(precond, op, bj)))[0] for _ in range(reps))
    out.update(pre_compile=t_compile, pre_solve=t_pre, pre_held=t_held, pre_iters=int(psol.stats["num_steps"]),
               pre_res=float(np.linalg.norm(b - a @ np.asarray(psol.value)) / np.linalg.norm(b)),
               rss=peak_rss_mb(), rss_delta=peak_rss_mb() - base)
    return out


def child_pyamg(a: sp.csr_matrix, b: np.ndarray) -> dict:
    import pyamg

    base = peak_rss_mb()
    t_setup, ml = timed(lambda: pyamg.smoothed_aggregation_solver(a))
    residuals: list[float] = []
    t_solve, x = timed(lambda: ml.solve(b, tol=RTOL, accel="cg", maxiter=500, residuals=residuals))
    res = float(np.linalg.norm(b - a @ x) / np.linalg.norm(b))
    return dict(host=t_setup, solve=t_solve, total=t_setup + t_solve, iters=len(residuals) - 1, res=res,
                levels=len(ml.levels), rss=peak_rss_mb(), rss_delta=peak_rss_mb() - base)


def child(problem: str, who: str, quick: bool, reps: int) -> None:
    build, m, m_quick = PROBLEMS[problem]
    a = build(m_quick if quick else m)
    b = np.random.default_rng(0).standard_normal(a.shape[0])
    out = child_pyamg(a, b) if who == "pyamg" else child_nativax(a, b, who.split(":")[1], reps)
    out["n"] = a.shape[0]
    print("RESULT " + json.dumps(out))


def run_child(problem: str, who: str, quick: bool, reps: int) -> dict:
    cmd = [sys.executable, __file__, "--child", problem, who, "--reps", str(reps)] + (["--quick"] if quick else [])
    # One BLAS thread for both: on a shared 2-core machine OpenBLAS's spinning threads turn a 200 x 200 dense LU
    # (nativax's coarsest level, pyamg's coarse pseudo-inverse) from 2 ms into 170 ms; sparse work is unaffected.
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, env=env)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"{problem} / {who} failed:\n{proc.stderr[-3000:]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--problems", nargs="*", default=list(PROBLEMS), help="subset of the problem names")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child[0], args.child[1], args.quick, args.reps)
        return
    print(f"load: {os.getloadavg()}")
    rows = []
    for problem in args.problems:
        py = run_child(problem, "pyamg", args.quick, args.reps)
        nx = run_child(problem, "nativax:native", args.quick, args.reps)
        ref = run_child(problem, "nativax:pyamg", args.quick, args.reps)
        rows.append((problem, py, nx, ref))
        print(f"done {problem}: load {os.getloadavg()}", flush=True)
    print(f"\nAMG benchmark, rtol {RTOL:g}, one system (times in s; RSS in MB, peak of the child process)")
    print(f"{'problem':<20} {'n':>8} {'solver':<22} {'host setup':>10} {'resetup':>8} {'solve':>7} {'iters':>5} "
          f"{'first call':>10} {'total':>7} {'rel.res':>8} {'levels':>6} {'1-shot RSS':>10} {'+maps':>6} "
          f"{'+maps 1st':>9} {'peak RSS':>8}")
    for problem, py, nx, ref in rows:
        print(f"{problem:<20} {py['n']:>8} {'pyamg (own solver)':<22} {py['host']:>10.2f} {'-':>8} {py['solve']:>7.3f} "
              f"{py['iters']:>5} {'-':>10} {py['total']:>7.2f} {py['res']:>8.1e} {py['levels']:>6} {py['rss']:>10.0f} "
              f"{'-':>6} {'-':>9} {py['rss']:>8.0f}")
        for name, r in (("nativax (native setup)", nx), ("nativax (pyamg setup)", ref)):
            print(f"{problem:<20} {r['n']:>8} {name:<22} {r['host']:>10.2f} {r['resetup']:>8.3f} {r['solve']:>7.3f} "
                  f"{r['iters']:>5} {r['first']:>10.2f} {r['total']:>7.2f} {r['res']:>8.1e} {r['levels']:>6} "
                  f"{r['rss_oneshot']:>10.0f} {r['host_maps']:>6.2f} {r['first_maps']:>9.2f} {r['rss']:>8.0f}")
    print("\nTargets: host setup <= 1.0x pyamg; total <= 0.6x pyamg; lx.CG+AMG compile <= 2 s at n=250k, "
          "solve <= 1.3x AMG(krylov='cg')")
    print("lx.CG solve = resetup + PCG (jitted from the solver), vs AMG linear_solve (resetup + PCG); held = "
          "preconditioner built once, vs AMG compute on a given hierarchy")
    print(f"{'problem':<20} {'setup x':>8} {'total x':>8} {'lx.CG compile':>13} {'lx.CG solve':>11} "
          f"{'vs AMG':>7} {'held':>7} {'vs AMG':>7} {'lx.CG iters':>11} {'lx.CG res':>9}")
    for problem, py, nx, _ in rows:
        print(f"{problem:<20} {nx['host'] / py['host']:>8.2f} {nx['total'] / py['total']:>8.2f} "
              f"{nx['pre_compile']:>13.2f} {nx['pre_solve']:>11.3f} {nx['pre_solve'] / nx['warm_full']:>7.2f} "
              f"{nx['pre_held']:>7.3f} {nx['pre_held'] / nx['solve']:>7.2f} {nx['pre_iters']:>11} "
              f"{nx['pre_res']:>9.1e}")
    print(f"load: {os.getloadavg()}")


if __name__ == "__main__":
    main()
