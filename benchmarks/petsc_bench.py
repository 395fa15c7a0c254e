"""nativax.PETSc against the same PETSc configuration called from C, nativax CHOLMOD and nativax AMG; the
gradient against the forward solve; 2 MPI ranks against 1.

Problems: 2-D Poisson n = 250k (500^2) and 3-D Poisson 47^3 on 1 rank. Configurations: MUMPS Cholesky and CG +
hypre BoomerAMG (rtol 1e-8). Phases (medians in ms): `first` = new Mat + KSP + setup (symbolic + numeric
factorization / AMG hierarchy) + solve, `update` = new values on the cached pattern (numeric re-setup) + solve,
`solve` = the same values again (factorization / preconditioner reused). The C program
(benchmarks/native/petsc_direct_bench.cc) does exactly these PETSc calls.

    python benchmarks/petsc_bench.py            # full sizes
    python benchmarks/petsc_bench.py --quick    # small sizes, one repeat (a smoke run)
    python benchmarks/petsc_bench.py --worker OUT.npz K   # (internal) one MPI rank of the 2-vs-1 rank run
"""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import lineax as lx  # noqa: E402
import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402

import nativax  # noqa: E402
from nativax import petsc  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PRESETS = {"mumps_cholesky": {}, "hypre": {"rtol": 1e-8}}
MPI_FLAGS = ["--oversubscribe", "--bind-to", "none", "--mca", "btl", "self,vader", "--mca",
             "btl_vader_single_copy_mechanism", "none", "--mca", "oob_tcp_if_include", "lo", "--mca", "pml", "ob1",
             "--mca", "mtl", "^psm,ofi"]


def poisson2d(k: int) -> sp.csr_matrix:
    t = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(k, k))
    e = sp.eye(k)
    return (sp.kron(t, e) + sp.kron(e, t)).tocsr()


def poisson3d(k: int) -> sp.csr_matrix:
    t = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(k, k))
    e = sp.eye(k)
    return (sp.kron(sp.kron(t, e), e) + sp.kron(sp.kron(e, t), e) + sp.kron(sp.kron(e, e), t)).tocsr()


def direct_c(a: sp.csr_matrix, b: np.ndarray, options: str, reps: int) -> dict[str, float]:
    """Compile (once) and run the C program calling PETSc directly with `options`."""
    exe = Path(tempfile.gettempdir()) / "nativax_petsc_direct_bench"
    src = ROOT / "benchmarks" / "native" / "petsc_direct_bench.cc"
    if not exe.exists() or exe.stat().st_mtime < src.stat().st_mtime:
        flags = subprocess.run(["pkg-config", "--cflags", "--libs", "PETSc", "ompi-c"], capture_output=True, text=True,
                               check=True).stdout.split()
        subprocess.run([shutil.which("g++") or "c++", "-O3", "-std=c++17", str(src), "-o", str(exe), *flags], check=True)
    a = sp.csr_matrix(a)
    a.sort_indices()
    with tempfile.NamedTemporaryFile(suffix=".bin", delete=False) as f:
        f.write(np.int64(a.shape[0]).tobytes() + np.int64(a.nnz).tobytes())
        f.write(a.indptr.astype(np.int32).tobytes() + a.indices.astype(np.int32).tobytes())
        f.write(a.data.astype(np.float64).tobytes() + b.astype(np.float64).tobytes())
        path = f.name
    env = dict(os.environ, OMPI_MCA_btl="self,vader", OMPI_MCA_btl_vader_single_copy_mechanism="none",
               OMPI_MCA_oob_tcp_if_include="lo", OMPI_MCA_pml="ob1", OMPI_MCA_mtl="^psm,ofi")
    out = subprocess.run([str(exe), path, str(reps), *options.split()], capture_output=True, text=True, check=True,
                         env=env).stdout
    os.unlink(path)
    return {k: float(v) for k, v in (line.split() for line in out.strip().splitlines())}


def ms(f, *args) -> float:
    t0 = time.perf_counter()
    jax.block_until_ready(f(*args))
    return 1e3 * (time.perf_counter() - t0)


def nativax_phases(solver, op, b, reps: int) -> tuple[dict[str, float], float]:
    pat = op.pattern
    f = jax.jit(lambda v, b: lx.linear_solve(nativax.SparseOperator(v, pat), b, solver).value)
    v1, v2 = op.values, 1.5 * op.values
    jax.block_until_ready(f(v1, b))  # compile
    first, update, solve = [], [], []
    for _ in range(reps):
        nativax.clear_caches()
        first.append(ms(f, v1, b))
        update.append(ms(f, v2, b))
        solve.append(ms(f, v2, b))
    x = f(v1, b)
    res = float(jnp.linalg.norm(op.mv(x) - b) / jnp.linalg.norm(b))
    return {"first_ms": float(np.median(first)), "update_ms": float(np.median(update)),
            "solve_ms": float(np.median(solve))}, res


def other_engine(solver, op, b, reps: int) -> float:
    pat, tags = op.pattern, op.tags
    f = jax.jit(lambda v, b: lx.linear_solve(nativax.SparseOperator(v, pat, tags), b, solver).value)
    f(op.values, b)
    times = []
    for _ in range(reps):
        nativax.clear_caches()
        times.append(ms(f, op.values, b))
    return float(np.median(times))


def grad_vs_forward(solver, op, b, reps: int) -> tuple[float, float, dict]:
    pat = op.pattern
    fwd = jax.jit(lambda v: jnp.sum(lx.linear_solve(nativax.SparseOperator(v, pat), b, solver).value))
    grd = jax.jit(jax.grad(lambda v: jnp.sum(lx.linear_solve(nativax.SparseOperator(v, pat), b, solver).value)))
    fwd(op.values)
    grd(op.values)
    tf, tg = [], []
    counters: dict = {}
    for _ in range(reps):  # alternate, caches cleared before each: both include setup
        nativax.clear_caches()
        tf.append(ms(fwd, op.values))
        nativax.clear_caches()
        nativax.reset_cache_counters()
        petsc_ext_reset()
        tg.append(ms(grd, op.values))
        counters = petsc.cache_info()
    return float(np.median(tf)), float(np.median(tg)), counters


def petsc_ext_reset() -> None:
    from nativax._petsc import ext

    ext.require().reset_cache_counters()


def worker(out: str, k: int) -> None:
    """One rank of the 2-vs-1 run: its rows of 2-D Poisson k^2, MUMPS Cholesky and hypre; saves its x blocks."""
    rank, size = petsc.rank_and_size()
    a = poisson2d(k)
    n = a.shape[0]
    start, stop = petsc.block_rows(n, rank, size)
    op = petsc.RowPartitionedOperator.from_scipy_rows(a, start, stop)
    del a
    b = jnp.ones(stop - start)
    res = {}
    for name, kw in PRESETS.items():
        solver = nativax.PETSc(preset=name, **kw)
        f = jax.jit(lambda v, b, s=solver: lx.linear_solve(petsc.RowPartitionedOperator(v, op.rows), b, s).value)
        f(op.values, b)  # compile + first solve
        nativax.clear_caches()
        t = ms(f, op.values, b)
        res[name] = np.asarray(f(op.values, b))
        res[name + "_ms"] = np.asarray(t)
    np.savez(f"{out}.rank{rank}", start=start, stop=stop, **res)


def ranks(n_ranks: int, k: int) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    tmp = tempfile.mkdtemp()
    out = os.path.join(tmp, "x")
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OPENBLAS_NUM_THREADS="1",
               OMP_NUM_THREADS="1")
    cmd = [shutil.which("mpiexec") or "mpiexec", *MPI_FLAGS, "-n", str(n_ranks), sys.executable, __file__, "--worker",
           out, str(k)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    try:
        log, _ = proc.communicate(timeout=600)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    if proc.returncode:
        raise RuntimeError(log)
    wall = time.perf_counter() - t0
    parts = [np.load(f"{out}.rank{r}.npz") for r in range(n_ranks)]
    xs = {name: np.concatenate([p[name] for p in parts]) for name in PRESETS}
    times = {name: max(float(p[name + "_ms"]) for p in parts) for name in PRESETS}
    times["wall_s"] = wall
    shutil.rmtree(tmp)
    return times, xs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--worker", nargs=2)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--no-ranks", action="store_true", help="skip the 2-vs-1 rank runs")
    args = ap.parse_args()
    if args.worker:
        worker(args.worker[0], int(args.worker[1]))
        return
    reps = 1 if args.quick else args.reps
    k2, k3 = (60, 12) if args.quick else (500, 47)
    print(f"load: {os.getloadavg()}")
    rows = []
    for label, a in ((f"2-D Poisson n={k2 * k2}", poisson2d(k2)), (f"3-D Poisson {k3}^3", poisson3d(k3))):
        op = nativax.SparseOperator.from_scipy(a, tags=(lx.symmetric_tag, lx.positive_semidefinite_tag))
        b = jnp.ones(a.shape[0])
        for name, kw in PRESETS.items():
            solver = nativax.PETSc(preset=name, **kw)
            # nativax and C alternately, one repeat each (medians over reps): on a shared machine a ratio of
            # two cells measured minutes apart carries the load drift, this one less so.
            nats, cs = [], []
            for _ in range(reps):
                nat, res = nativax_phases(solver, op, b, 1)
                nats.append(nat)
                cs.append(direct_c(a, np.ones(a.shape[0]), solver.options_string, 1))
            nat = {k: float(np.median([d[k] for d in nats])) for k in nats[0]}
            c = {k: float(np.median([d[k] for d in cs])) for k in cs[0]}
            rows.append((label, name, nat, c, res))
            print(f"{label:24s} {name:15s} nativax first/update/solve {nat['first_ms']:9.1f} {nat['update_ms']:9.1f} "
                  f"{nat['solve_ms']:8.1f} | C {c['first_ms']:9.1f} {c['update_ms']:9.1f} {c['solve_ms']:8.1f} | "
                  f"ratio first {nat['first_ms'] / c['first_ms']:.3f} update {nat['update_ms'] / c['update_ms']:.3f} "
                  f"| residual {res:.1e}", flush=True)
        chol = other_engine(nativax.CHOLMOD(), op, b, reps) if nativax.has_cholmod else float("nan")
        amg = other_engine(nativax.AMG(krylov="cg", rtol=1e-8), op, b, reps)
        print(f"{label:24s} nativax CHOLMOD (analyze+factor+solve) {chol:9.1f} ms | nativax AMG (setup+CG) {amg:9.1f} ms",
              flush=True)
        for name, kw in PRESETS.items():
            tf, tg, cnt = grad_vs_forward(nativax.PETSc(preset=name, **kw), op, b, reps)
            print(f"{label:24s} {name:15s} grad/forward {tg / tf:.3f} ({tg:.1f} / {tf:.1f} ms); in one grad: "
                  f"setups {cnt['setups']}, numeric_updates {cnt['numeric_updates']}, reuses {cnt['reuses']}, "
                  f"transpose_solves {cnt['transpose_solves']}", flush=True)
    if args.no_ranks:
        return
    # 2 ranks vs 1 on 2-D Poisson (oversubscribed on 2 cores with everything else running: overhead, not speed-up).
    t1, x1 = ranks(1, k2)
    t2, x2 = ranks(2, k2)
    for name in PRESETS:
        diff = float(np.abs(x2[name] - x1[name]).max() / np.abs(x1[name]).max())
        print(f"2-D Poisson n={k2 * k2} {name:15s} 1 rank {t1[name]:9.1f} ms, 2 ranks {t2[name]:9.1f} ms "
              f"(x {t2[name] / t1[name]:.2f}); max |x2 - x1| / max|x1| = {diff:.1e}", flush=True)
    print(f"mpiexec wall: 1 rank {t1['wall_s']:.1f} s, 2 ranks {t2['wall_s']:.1f} s")


if __name__ == "__main__":
    main()
