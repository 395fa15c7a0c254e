"""KLU benchmark: problems P1-P5 of DESIGN.md (built with ../shared/bench/problems.py) for nativax, scipy's
splu, and SuiteSparse KLU called directly from C++ (the floor). Prints one table of medians (ms) and ratios.

    python benchmarks/klu_bench.py            # full sizes (P1 n=250k)
    python benchmarks/klu_bench.py --quick    # smaller P1, fewer repeats
"""

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp
import lineax as lx
import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

import nativax
from nativax import klu

ROOT = Path(__file__).resolve().parents[1]
import problems  # noqa: E402  (benchmarks/problems.py: the shared P1-P5 builders)


def median_ms(fn, reps: int, setup=None) -> float:
    times = []
    for i in range(reps):
        arg = setup(i) if setup else None
        t0 = time.perf_counter()
        fn(arg)
        times.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(times))


def direct_c(a: sp.csc_matrix, b: np.ndarray, reps: int) -> dict[str, float]:
    """Compile (once) and run the direct-C KLU timing program on matrix `a`."""
    exe = Path(tempfile.gettempdir()) / "nativax_klu_direct_bench"
    src = ROOT / "benchmarks" / "native" / "klu_direct_bench.cc"
    if not exe.exists() or exe.stat().st_mtime < src.stat().st_mtime:
        inc = [f"-I{p}" for p in ("/usr/include/suitesparse", os.environ.get("CONDA_PREFIX", "/nonexistent") + "/include")]
        cmd = [shutil.which("g++") or "c++", "-O3", "-std=c++17", *inc, str(src), "-o", str(exe),
               "-lklu", "-lamd", "-lcolamd", "-lbtf", "-lsuitesparseconfig"]
        subprocess.run(cmd, check=True)
    with tempfile.NamedTemporaryFile(suffix=".bin", delete=False) as f:
        a = a.tocsc()
        a.sort_indices()
        f.write(np.int64(a.shape[0]).tobytes() + np.int64(a.nnz).tobytes())
        f.write(a.indptr.astype(np.int32).tobytes() + a.indices.astype(np.int32).tobytes())
        f.write(a.data.astype(np.float64).tobytes() + b.astype(np.float64).tobytes())
        path = f.name
    out = subprocess.run([str(exe), path, str(reps)], capture_output=True, text=True, check=True).stdout
    os.unlink(path)
    return {k: float(v) for k, v in (line.split() for line in out.strip().splitlines())}


def coo(a):
    c = a.tocoo()
    return c.row.astype(np.int32), c.col.astype(np.int32), c.data


def value_sets(a, count, start):
    order = a.tocoo()
    out = []
    for k in range(count):
        m = problems.new_values(a, start + k).tocoo()
        # same pattern, same COO order as `a`
        d = sp.csr_matrix((m.data, (m.row, m.col)), shape=a.shape)
        out.append(np.asarray(d[order.row, order.col]).ravel())
    return out


def bench_solve(name, a, reps, rows_out):
    r, c, v = coo(a)
    n = a.shape[0]
    b = np.random.default_rng(0).standard_normal(n)
    solve = jax.jit(lambda vals, bb: klu.solve(r, c, vals, bb))
    vals = value_sets(a, reps + 1, 100)
    jax.block_until_ready(solve(vals[0], b))  # compile
    warm = median_ms(lambda i: jax.block_until_ready(solve(vals[i + 1], b)), reps, setup=lambda i: i)

    def cold(i):
        nativax.clear_caches()
        return i

    cold_ms = median_ms(lambda i: jax.block_until_ready(solve(vals[i + 1], b)), reps, setup=cold)
    csc = a.tocsc()
    scipy_ms = median_ms(lambda _: spla.splu(csc).solve(b), reps)
    floor = direct_c(csc, b, reps)
    rows_out.append((f"{name} solve, cold (analyze+factor+solve)", cold_ms, floor["total_ms"], scipy_ms))
    rows_out.append((f"{name} solve, pattern cached (factor+solve)", warm, floor["factor_ms"] + floor["solve_ms"], None))
    return warm, floor


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    reps = 3 if args.quick else 5
    m = 200 if args.quick else 500
    rows: list[tuple] = []
    print(f"nativax KLU benchmark | jax {jax.__version__} | native threads {nativax._core.native.lib.num_threads()}")

    # P1: 2D Poisson
    bench_solve(f"P1 poisson2d n={m * m}", problems.poisson2d(m), reps, rows)

    # P2: banded random nonsymmetric
    a2 = problems.banded_random(20_000)
    p2_warm, floor2 = bench_solve("P2 banded n=20k", a2, reps, rows)
    r, c, v = coo(a2)
    n = a2.shape[0]
    b = np.random.default_rng(1).standard_normal(n)

    # lineax front end on P2 vs the low-level call
    pattern, where = nativax.SparsityPattern.from_coo(r, c, a2.shape)  # COO order -> pattern slots
    lx_solve = jax.jit(lambda vals, bb: lx.linear_solve(
        nativax.SparseOperator(jnp.zeros(pattern.nnz, vals.dtype).at[where].add(vals), pattern),
        bb, solver=nativax.KLU()).value)
    vals = value_sets(a2, 2 * reps + 1, 300)
    jax.block_until_ready(lx_solve(vals[0], b))
    lx_ms = median_ms(lambda i: jax.block_until_ready(lx_solve(vals[i + 1], b)), 2 * reps, setup=lambda i: i)
    rows.append(("P2 via lx.linear_solve(SparseOperator, KLU())", lx_ms, None, None, f"{lx_ms / p2_warm:.2f}x of klu.solve"))

    # P3: 50 refactor + solve with new values
    n_ref = 20 if args.quick else 50
    vals = value_sets(a2, n_ref + 1, 500)
    sym = klu.analyze(r, c, n)
    num = klu.factor(sym, vals[0])
    times = []
    for k in range(n_ref):
        t0 = time.perf_counter()
        num = klu.refactor(num, vals[k + 1])
        jax.block_until_ready(klu.solve_with_numeric(num, b))
        times.append(time.perf_counter() - t0)
    p3_handle = 1e3 * float(np.median(times))
    num.close()
    sym.close()
    solve = jax.jit(lambda vv, bb: klu.solve(r, c, vv, bb))
    jax.block_until_ready(solve(vals[0], b))
    nativax.set_cache_size(1)  # a tight cache turns every new value set into klu_refactor of the LRU entry
    times = []
    for k in range(n_ref):
        t0 = time.perf_counter()
        jax.block_until_ready(solve(vals[k + 1] * 1.0001, b))
        times.append(time.perf_counter() - t0)
    nativax.set_cache_size(16)
    p3_cache = 1e3 * float(np.median(times))
    csc = a2.tocsc()
    scipy_p3 = median_ms(lambda _: spla.splu(csc).solve(b), reps)
    floor_p3 = floor2["refactor_ms"] + floor2["solve_ms"]
    rows.append(("P3 refactor+solve (handles: refactor, solve_with_numeric)", p3_handle, floor_p3, scipy_p3))
    rows.append(("P3 refactor+solve (jit klu.solve, cache recycles)", p3_cache, floor_p3, None))

    # P4: 16 value sets at once under vmap vs 16 sequential solves
    vals = np.stack(value_sets(a2, 16, 700))
    batched = jax.jit(jax.vmap(lambda vv: klu.solve(r, c, vv, b)))
    jax.block_until_ready(batched(vals * 0.5))
    p4 = median_ms(lambda i: jax.block_until_ready(batched(vals * (1.0 + 0.01 * i))), reps, setup=lambda i: i)
    seq = median_ms(
        lambda i: [jax.block_until_ready(solve(vals[j] * (1.0 + 0.01 * i + 1e-3), b)) for j in range(16)],
        reps, setup=lambda i: i)
    scipy_p4 = median_ms(lambda _: [spla.splu(sp.csc_matrix((vals[j], (r, c)), shape=a2.shape)).solve(b) for j in range(16)], max(1, reps // 2))
    rows.append(("P4 16 value sets, vmap (one native call)", p4, None, scipy_p4, f"{seq / p4:.2f}x faster than 16 sequential ({seq:.0f} ms)"))

    # P5: grad wrt values and rhs
    loss = jax.jit(jax.grad(lambda vv, bb: jnp.sum(klu.solve(r, c, vv, bb) ** 2), argnums=(0, 1)))
    vals = value_sets(a2, reps + 1, 900)
    jax.block_until_ready(loss(vals[0], b))
    p5 = median_ms(lambda i: jax.block_until_ready(loss(vals[i + 1], b)), reps, setup=lambda i: i)
    rows.append(("P5 grad wrt values and rhs", p5, None, None, f"{p5 / p2_warm:.2f}x of P2 forward"))

    print()
    print(f"{'problem':58s} {'nativax ms':>11s} {'C KLU ms':>9s} {'ratio':>6s} {'scipy ms':>9s}  note")
    for row in rows:
        label, ours, floor, scipy_ms = row[:4]
        note = row[4] if len(row) > 4 else ""
        ratio = f"{ours / floor:.2f}" if floor else "-"
        print(f"{label:58s} {ours:11.1f} {floor if floor else float('nan'):9.1f} {ratio:>6s} "
              f"{scipy_ms if scipy_ms else float('nan'):9.1f}  {note}")
    print("\nratio = nativax / direct C KLU on the same matrix (1.00 = the floor). Medians of", reps, "runs.")


if __name__ == "__main__":
    main()
