"""Soak test of the KLU path: memory stays flat over many jitted solves, and concurrent threads get right answers.

Phase 1 (leaks): N jitted `lx.linear_solve(..., solver=nativax.KLU())` calls, each with new matrix values
(computed inside the jitted function from the step number, so every step is a matrix no cache has seen) and a
gradient wrt the values (forward solve + adjoint transpose solve). Prints the process RSS at the start (after a
warm-up), the middle and the end; the end and middle must be within 5% of the start. Every 1,000 steps the
value and gradient are checked against scipy (x = A^{-1} b, dL/dA_ij = -lambda_i x_j, lambda = A^{-T} 2x),
and the native handle count / cache entries must stay bounded.

Phase 1b (handles): thousands of eager analyze/factor/refactor/solve cycles, the handles closed or just dropped
(the GC finalizer frees those); RSS flat and no handle left alive afterwards.

Phase 2 (threads): 8 Python threads solve concurrently (eager `klu.solve`, jitted lineax solves, and jitted
gradients; three sparsity patterns so the shared native caches are hit, missed and evicted from several threads
at once), once with the default cache capacity and once with capacity 1. Every result is checked against
scipy's `spsolve`.

    python benchmarks/soak.py            # 10,000 solves, 8 threads x 150 solves per capacity
    python benchmarks/soak.py --quick    # 1,000 solves, 8 threads x 20 solves per capacity

Exits non-zero if the RSS is not flat or any result is wrong.
"""

import argparse
import os
import sys
import threading
import time
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp
import lineax as lx
import numpy as np
import problems  # noqa: E402  (benchmarks/problems.py: the shared P1-P5 builders)
import scipy.sparse as sp
import scipy.sparse.linalg as spla

import nativax
from nativax import klu

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mib() -> float:
    """Resident set size of this process now (not the peak), in MiB."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE / 2**20


def live_native() -> tuple[int, int, int]:
    info = nativax.cache_info()
    return info["handles"]["live"], info["klu"]["numeric"]["entries"], info["klu"]["symbolic"]["entries"]


# ---- phase 1: RSS over many jitted solves with a gradient each ----------------------------------------------


def soak(steps: int, n: int, warmup: int, tol: float) -> bool:
    a0 = problems.banded_random(n, seed=3)
    op0 = nativax.SparseOperator.from_scipy(a0)
    pattern = op0.pattern
    rows, cols = np.asarray(pattern.rows), np.asarray(pattern.cols)
    base = np.asarray(op0.values)
    offdiag = jnp.asarray(rows != cols, jnp.float64)
    phase = jnp.asarray(np.random.default_rng(0).uniform(0, 2 * np.pi, pattern.nnz))
    b = jnp.asarray(np.random.default_rng(1).standard_normal(n))

    def values_at(k):  # off-diagonals perturbed by up to 5% (the diagonal keeps the matrix nonsingular)
        return jnp.asarray(base) * (1.0 + 0.05 * offdiag * jnp.sin(0.37 * k + phase))

    def loss(values):
        x = lx.linear_solve(nativax.SparseOperator(values, pattern), b, solver=nativax.KLU()).value
        return jnp.sum(x**2)

    @jax.jit
    def step(k):
        return jax.value_and_grad(loss)(values_at(k))

    def check(k: int, val, grad) -> None:
        v = np.asarray(values_at(float(k)))
        a = sp.csc_matrix((v, (rows, cols)), shape=(n, n))
        x = spla.spsolve(a, np.asarray(b))
        lam = spla.spsolve(a.T.tocsc(), 2 * x)
        np.testing.assert_allclose(float(val), np.sum(x**2), rtol=1e-9)
        np.testing.assert_allclose(np.asarray(grad), -lam[rows] * x[cols], rtol=1e-7, atol=1e-12)

    nativax.caches.reset_cache_counters()
    marks = {0: "first", warmup: "start", steps // 2: "middle", steps: "end"}
    rss: dict[str, float] = {"first": rss_mib()}
    handles: list[tuple[int, int, int]] = []
    print(f"phase 1: {steps} jitted lx.linear_solve + grad steps, n={n}, nnz={pattern.nnz}, new values each step")
    print(f"  RSS first   {rss['first']:8.1f} MiB (before compiling)")
    t0 = time.perf_counter()
    for k in range(1, steps + 1):
        val, grad = step(float(k))
        if k % 1000 == 0 or k == warmup:
            check(k, val, grad)
            handles.append(live_native())
        if k in marks:
            jax.block_until_ready(grad)
            rss[marks[k]] = rss_mib()
            print(f"  RSS {marks[k]:<7} {rss[marks[k]]:8.1f} MiB after {k:6d} steps "
                  f"({time.perf_counter() - t0:6.1f} s; live handles, numeric/symbolic cache entries {live_native()})")
    elapsed = time.perf_counter() - t0
    info = nativax.cache_info()["klu"]
    growth_mid = rss["middle"] / rss["start"] - 1
    growth_end = rss["end"] / rss["start"] - 1
    flat = abs(growth_mid) <= tol and abs(growth_end) <= tol
    bounded = len({h for h in handles}) == 1
    print(f"  {elapsed / steps * 1e3:.3f} ms/step; factorizations {info['factorizations']}, "
          f"refactorizations {info['refactorizations']}, numeric hits {info['numeric']['hits']}")
    print(f"  RSS change after warm-up: middle {100 * growth_mid:+.2f}%, end {100 * growth_end:+.2f}% "
          f"(limit +-{100 * tol:.0f}%) -> {'FLAT' if flat else 'NOT FLAT'}")
    print(f"  values/gradients checked against scipy every 1000 steps: ok; native objects bounded: {bounded} {handles[-1]}")
    return flat and bounded


# ---- phase 1b: RSS over many eager handle lifetimes ---------------------------------------------------------


def handle_soak(cycles: int, n: int, warmup: int, tol: float) -> bool:
    """analyze -> factor -> refactor -> solve -> close, `cycles` times; plus handles dropped
    without close() (freed by the GC backstop). RSS and the live-handle count must stay flat."""
    import gc

    a = problems.banded_random(n, seed=5).tocoo()
    b = np.random.default_rng(2).standard_normal(n)
    base = live_native()[0]
    marks = {warmup: "start", cycles // 2: "middle", cycles: "end"}
    rss: dict[str, float] = {}
    wrong = 0
    print(f"phase 1b: {cycles} eager handle cycles (analyze, factor, refactor, solve, close / drop), n={n}")
    t0 = time.perf_counter()
    for k in range(1, cycles + 1):
        v1 = a.data * (1.0 + 0.01 * (k % 7))
        v2 = a.data * (1.0 + 0.02 * (k % 5))
        sym = klu.analyze(a.row, a.col, n)
        num = klu.factor(sym, v1)
        num = klu.refactor(num, v2)
        x = np.asarray(klu.solve_with_numeric(num, b, transpose=bool(k % 2)))
        if k % 250 == 0:
            m = sp.csc_matrix((v2, (a.row, a.col)), shape=(n, n))
            ref = spla.spsolve(m.T.tocsc() if k % 2 else m, b)
            wrong += not np.allclose(x, ref, rtol=1e-9, atol=1e-12)
        if k % 3 == 0:  # dropped, not closed: the finalizer frees them
            del num, sym
        else:
            num.close()
            sym.close()
        if k in marks:
            gc.collect()
            rss[marks[k]] = rss_mib()
            print(f"  RSS {marks[k]:<7} {rss[marks[k]]:8.1f} MiB after {k:6d} cycles "
                  f"({time.perf_counter() - t0:6.1f} s; live handles {live_native()[0] - base})")
    gc.collect()
    leaked = live_native()[0] - base
    growth = max(abs(rss["middle"] / rss["start"] - 1), abs(rss["end"] / rss["start"] - 1))
    ok = growth <= tol and leaked == 0 and wrong == 0
    print(f"  RSS change after warm-up at most {100 * growth:.2f}% (limit {100 * tol:.0f}%); handles left {leaked}; "
          f"wrong results {wrong} -> {'OK' if ok else 'FAILED'}")
    return ok


# ---- phase 2: concurrent threads ----------------------------------------------------------------------------


def threads(n_threads: int, per_thread: int, capacity: int | None) -> bool:
    mats = [problems.banded_random(400 + 50 * s, seed=10 + s).tocoo() for s in range(3)]
    ops = [nativax.SparseOperator.from_scipy(m) for m in mats]

    def make(pattern):
        def solve(values, b):
            return lx.linear_solve(nativax.SparseOperator(values, pattern), b, solver=nativax.KLU()).value

        # d/db of sum(x) = A^{-T} 1: the adjoint (transpose) solve through the cache
        return jax.jit(solve), jax.jit(jax.grad(lambda values, b: jnp.sum(solve(values, b)), argnums=1))

    jitted = [make(op.pattern) for op in ops]
    old = nativax.cache_info()["klu"]["capacity"]
    nativax.clear_caches()
    if capacity is not None:
        nativax.set_cache_size(capacity)
    nativax.caches.reset_cache_counters()
    wrong: list[str] = []
    done = [0] * n_threads
    start = threading.Barrier(n_threads)

    def work(t: int) -> None:
        rng = np.random.default_rng(100 + t)
        start.wait()
        for j in range(per_thread):
            i = int(rng.integers(3))
            m = mats[i]
            scale = 1.0 + 0.25 * int(rng.integers(4))  # few distinct value sets: hits across threads too
            b = rng.standard_normal(m.shape[0])
            a = sp.csc_matrix((m.data * scale, (m.row, m.col)), shape=m.shape)
            kind = j % 3
            try:
                if kind == 0:
                    x = np.asarray(klu.solve(m.row, m.col, m.data * scale, b))
                    ref = spla.spsolve(a, b)
                elif kind == 1:
                    x = np.asarray(jitted[i][0](ops[i].values * scale, jnp.asarray(b)))
                    ref = spla.spsolve(a, b)
                else:
                    x = np.asarray(jitted[i][1](ops[i].values * scale, jnp.asarray(b)))
                    ref = spla.spsolve(a.T.tocsc(), np.ones(m.shape[0]))
                if not np.allclose(x, ref, rtol=1e-9, atol=1e-12):
                    wrong.append(f"thread {t} solve {j} (kind {kind}): max error {np.abs(x - ref).max():.3g}")
            except Exception as e:  # any failure is a wrong result here
                wrong.append(f"thread {t} solve {j} (kind {kind}): {type(e).__name__}: {e}")
            done[t] += 1

    ts = [threading.Thread(target=work, args=(t,)) for t in range(n_threads)]
    t0 = time.perf_counter()
    for th in ts:
        th.start()
    for th in ts:
        th.join()
    elapsed = time.perf_counter() - t0
    info = nativax.cache_info()["klu"]
    cap = nativax.cache_info()["klu"]["capacity"]
    nativax.set_cache_size(old)
    total = sum(done)
    print(f"phase 2: {n_threads} threads x {per_thread} solves (cache capacity {cap}): "
          f"{total - len(wrong)}/{n_threads * per_thread} correct vs scipy in {elapsed:.1f} s; "
          f"numeric hits {info['numeric']['hits']}, misses {info['numeric']['misses']}, "
          f"evictions {info['numeric']['evictions']}")
    for w in wrong[:10]:
        print("   WRONG:", w)
    return not wrong and total == n_threads * per_thread


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="1,000 steps and 20 solves per thread")
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--n", type=int, default=2000, help="matrix size of phase 1")
    p.add_argument("--tol", type=float, default=0.05, help="allowed relative RSS change after warm-up")
    args = p.parse_args()
    steps = args.steps or (1000 if args.quick else 10_000)
    warmup = max(100, steps // 20)
    print(f"jax {jax.__version__}, nativax at {Path(nativax.__file__).parent}, {os.cpu_count()} CPUs")
    ok_rss = soak(steps, args.n, warmup, args.tol)
    cycles = 500 if args.quick else 3000
    ok_rss &= handle_soak(cycles, 1000, max(50, cycles // 20), args.tol)
    per_thread = 20 if args.quick else 150
    ok_threads = all([threads(8, per_thread, None), threads(8, per_thread, 1)])
    print(f"soak: RSS {'flat' if ok_rss else 'NOT FLAT'}; concurrent results {'all correct' if ok_threads else 'WRONG'}")
    return 0 if ok_rss and ok_threads else 1


if __name__ == "__main__":
    sys.exit(main())
