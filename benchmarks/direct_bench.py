"""Sparse direct engines side by side: KLU, CHOLMOD, UMFPACK and Auto in nativax, scipy's `splu`, and each
SuiteSparse library called directly from C++ (the floor), on P1 (2-D Poisson, n = 250k, tagged SPD and
untagged), 3-D Poisson 40^3 and 47^3, P2 (nonsymmetric banded) and a circuit-like matrix with many BTF blocks;
then the batched rows (`direct_batch_rows.py`: single / 50 value sets / vmap of 16 / 16 sequential / grad). Prints one table of medians of
analyze + factor + solve for a new matrix (caches cleared before every repeat), ratios, factor memory, and the
cost of a gradient through CHOLMOD/UMFPACK relative to the forward solve.

    python benchmarks/direct_bench.py            # full sizes
    python benchmarks/direct_bench.py --quick    # small sizes, one repeat (a smoke run)
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

import direct_batch_rows  # noqa: E402  (benchmarks/direct_batch_rows.py: single / 50 sets / vmap 16 / grad)
import jax.numpy as jnp
import lineax as lx
import numpy as np
import problems  # noqa: E402  (benchmarks/problems.py: the shared P1-P5 builders)
import scipy.sparse as sp
import scipy.sparse.linalg as spla

import nativax

ROOT = Path(__file__).resolve().parents[1]
_SS = "-lamd -lcamd -lcolamd -lccolamd -lsuitesparseconfig -llapack -lblas"
_LIBS = {"klu": "-lklu -lamd -lcolamd -lbtf -lsuitesparseconfig", "cholmod": "-lcholmod " + _SS,
         "umfpack": "-lumfpack -lcholmod " + _SS}


def poisson3d(m: int) -> sp.csr_matrix:
    t = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(m, m))
    e = sp.eye(m)
    return (sp.kron(sp.kron(t, e), e) + sp.kron(sp.kron(e, t), e) + sp.kron(sp.kron(e, e), t)).tocsr()


def circuit(blocks: int = 2500, size: int = 20, seed: int = 0) -> sp.csr_matrix:
    """Block upper triangular: `blocks` dense-ish random diagonal blocks, each coupled to the next one above
    the diagonal only, so BTF finds every block (like a circuit with feed-forward stages)."""
    rng = np.random.default_rng(seed)
    diag = [sp.random(size, size, density=0.25, random_state=rng) + size * sp.eye(size) for _ in range(blocks)]
    n = blocks * size
    src = rng.integers(0, n - size, 3 * blocks)
    dst = (src // size + 1) * size + rng.integers(0, size, src.size)  # a later block: upper triangular coupling
    return (sp.block_diag(diag) + sp.coo_matrix((-np.ones(src.size), (src, dst)), shape=(n, n))).tocsr()


def direct_c(engine: str, a: sp.csc_matrix, b: np.ndarray, reps: int) -> dict[str, float]:
    """Compile (once) and run the direct-C timing program of `engine` on matrix `a`."""
    exe = Path(tempfile.gettempdir()) / f"nativax_{engine}_direct_bench"
    src = ROOT / "benchmarks" / "native" / f"{engine}_direct_bench.cc"
    if not exe.exists() or exe.stat().st_mtime < src.stat().st_mtime:
        cmd = [shutil.which("g++") or "c++", "-O3", "-std=c++17", "-I/usr/include/suitesparse", str(src), "-o",
               str(exe), *_LIBS[engine].split()]
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


timed = direct_batch_rows.median_ms  # median ms over reps, caches cleared before each


def v_of(op: nativax.SparseOperator):
    return jnp.asarray(op.values)


def interleaved(f_a, f_b, v, b, reps: int) -> tuple[float, float]:
    """Medians (ms) of f_a and f_b run alternately, caches cleared before each run: a ratio of two cells
    measured minutes apart carries the machine's drift, this one does not."""
    ta, tb = [], []
    for _ in range(reps):
        for f, out in ((f_a, ta), (f_b, tb)):
            nativax.clear_caches()
            t0 = time.perf_counter()
            jax.block_until_ready(f(v, b))
            out.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(ta)), 1e3 * float(np.median(tb))


def nativax_row(solver, op: nativax.SparseOperator, b, reps: int, engine: str | None):
    pat, tags = op.pattern, op.tags
    f = jax.jit(lambda v, b: lx.linear_solve(nativax.SparseOperator(v, pat, tags), b, solver=solver).value)
    v = jnp.asarray(op.values)
    nativax.clear_caches()
    t0 = time.perf_counter()
    x = jax.block_until_ready(f(v, b))  # compiles; with reps == 1 this run is the measurement (compile included)
    first = 1e3 * (time.perf_counter() - t0)
    res = float(jnp.linalg.norm(op.mv(x) - b) / jnp.linalg.norm(b))
    ms = first if reps == 1 else timed(lambda: f(v, b), reps)
    nbytes = nativax.cache_info()[engine]["numeric"]["bytes"] if engine else float("nan")
    return ms, nbytes, res, f


def grad_ratio(f, op, b, reps: int, engine: str) -> tuple[float, float, int]:
    """(forward ms, grad ms, factorizations in one grad) for x = A^{-1} b, loss sum(x)."""
    v = jnp.asarray(op.values)
    g = jax.jit(jax.grad(lambda v: jnp.sum(f(v, b))))
    g(v)
    fwd, gm = interleaved(f, lambda v, b: g(v), v, b, max(reps, 3))
    nativax.clear_caches()
    nativax.reset_cache_counters()
    jax.block_until_ready(g(v))
    return fwd, gm, int(nativax.cache_info()[engine]["factorizations"])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="small sizes and one repeat")
    ap.add_argument("--klu-3d", action="store_true", help="also run KLU and splu on 3-D 47^3 (minutes)")
    ap.add_argument("--reps", type=int, default=3, help="repeats per cell (median)")
    ap.add_argument("--rows", default="", help="comma-separated substrings selecting rows, e.g. 'P1,P2'")
    ap.add_argument("--reps-3d", type=int, default=None, help="repeats on the 3-D rows (default: --reps)")
    ap.add_argument("--batch-only", action="store_true", help="only the batched / repeated rows (issue 20)")
    ap.add_argument("--no-batch", action="store_true", help="skip the batched / repeated rows")
    args = ap.parse_args()
    q = args.quick
    reps = 1 if q else args.reps
    if args.batch_only:
        direct_batch_rows.print_table(direct_batch_rows.run(q, reps))
        return
    rows = [
        ("P1 2-D Poisson", problems.poisson2d(60 if q else 500), True),
        ("P1 untagged", problems.poisson2d(60 if q else 500), False),
        ("3-D Poisson 40^3", poisson3d(12 if q else 40), True),
        ("3-D Poisson 47^3", poisson3d(14 if q else 47), True),
        ("P2 banded nonsym", problems.banded_random(2_000 if q else 20_000), False),
        ("circuit (BTF)", circuit(100 if q else 2500), False),
    ]
    psd = lx.positive_semidefinite_tag
    table, grads = [], []
    if args.rows:
        rows = [r for r in rows if any(k.strip() in r[0] for k in args.rows.split(","))]
    base_reps = reps
    for name, a, spd in rows:
        reps = args.reps_3d if ("3-D" in name and args.reps_3d) else base_reps
        a = a.tocsr()
        n = a.shape[0]
        slow_3d = "47^3" in name and not args.klu_3d and not q
        op = nativax.SparseOperator.from_scipy(a, tags=psd if spd else ())
        b = jnp.asarray(np.random.default_rng(0).standard_normal(n))
        r = {"n": n, "nnz": a.nnz}
        engines = [("KLU", nativax.KLU(), "klu"), ("UMFPACK", nativax.UMFPACK(), "umfpack")]
        if spd:
            engines.insert(1, ("CHOLMOD", nativax.CHOLMOD(), "cholmod"))
        fs = {}
        for label, solver, eng in engines:
            if label == "KLU" and (slow_3d or ("3-D" in name and not q and not args.klu_3d)):
                r[label] = (float("nan"), float("nan"))
                continue
            ms, nb, res, f = nativax_row(solver, op, b, reps, eng)
            assert res < 1e-6, (name, label, res)
            r[label] = (ms, nb)
            fs[eng] = f
        auto_solver, reason = nativax.Auto().choose(op)
        ms, _, res, f_auto = nativax_row(nativax.Auto(), op, b, reps, None)
        r["Auto"] = (ms, type(auto_solver).__name__, reason)
        timed_engines = {label: r[label][0] for label, _, _ in engines if not np.isnan(r[label][0])}
        best_label = min(timed_engines, key=timed_engines.get)
        r["Auto/best"] = (*interleaved(f_auto, fs[best_label.lower()], v_of(op), b, max(reps, 3)), best_label)
        if "3-D" in name and not q and not args.klu_3d:
            r["splu"] = (float("nan"), float("nan"))
        else:
            t0 = time.perf_counter()
            for _ in range(reps):
                lu = spla.splu(a.tocsc())
                lu.solve(np.asarray(b))
            r["splu"] = (1e3 * (time.perf_counter() - t0) / reps, 12.0 * (lu.L.nnz + lu.U.nnz))
        bn = np.asarray(b)
        for eng in ("klu", "cholmod", "umfpack"):
            if eng == "cholmod" and not spd:
                continue
            if eng == "klu" and "3-D" in name and not q and not args.klu_3d:
                continue
            c = direct_c(eng, a, bn, reps)
            r[f"C {eng}"] = (c["total_ms"], c.get("factor_bytes", float("nan")))
        table.append((name, r))
        for eng in ("cholmod", "umfpack"):
            if eng in fs and (name.startswith("P1") or name.startswith("P2") or ("47" in name and eng == "cholmod")):
                grads.append((name, eng, *grad_ratio(fs[eng], op, b, reps, eng)))
        print(f"done {name}", flush=True)

    cols = ["KLU", "CHOLMOD", "UMFPACK", "Auto", "splu", "C klu", "C cholmod", "C umfpack"]
    print("\nanalyze + factor + solve of a new matrix, median ms (factor MB); caches cleared before each repeat")
    print(f"{'problem':18} {'n':>8} " + " ".join(f"{c:>16}" for c in cols))
    for name, r in table:
        cells = []
        for c in cols:
            v = r.get(c)
            if v is None or (isinstance(v[0], float) and np.isnan(v[0])):
                cells.append(f"{'-':>16}")
            elif c == "Auto":
                cells.append(f"{v[0]:>9.0f} {v[1][:6]:>6}")
            else:
                mb = v[1] / 2**20 if not np.isnan(v[1]) else float("nan")
                cells.append(f"{v[0]:>9.0f} ({mb:>4.0f})")
        print(f"{name:18} {r['n']:>8} " + " ".join(cells))
    print("\nratios")
    for name, r in table:
        best = min(r[e][0] for e in ("KLU", "CHOLMOD", "UMFPACK") if e in r and not np.isnan(r[e][0]))
        ta, tb, best_label = r["Auto/best"]
        parts = [f"Auto/best {r['Auto'][0] / best:.2f}, interleaved {ta / tb:.2f} ({ta:.0f} vs {tb:.0f} ms for "
                 f"{best_label}) ({r['Auto'][1]}: {r['Auto'][2]})"]
        for e in ("CHOLMOD", "UMFPACK", "KLU"):
            ce = f"C {e.lower()}"
            if e in r and ce in r and not np.isnan(r[e][0]):
                parts.append(f"{e}/C {r[e][0] / r[ce][0]:.2f}")
        if "CHOLMOD" in r and not np.isnan(r["KLU"][0]):
            parts.append(f"CHOLMOD/KLU {r['CHOLMOD'][0] / r['KLU'][0]:.2f}")
        print(f"  {name:18} " + "; ".join(parts))
    print("\ngradient of sum(A^{-1} b) wrt values (forward + adjoint on one factorization), median ms")
    for name, eng, fwd, gm, nf in grads:
        print(f"  {name:18} {eng:8} forward {fwd:9.0f}  grad {gm:9.0f}  ratio {gm / fwd:.2f}  factorizations {nf}")
    if not args.no_batch:
        direct_batch_rows.print_table(direct_batch_rows.run(q, reps))


if __name__ == "__main__":
    main()
