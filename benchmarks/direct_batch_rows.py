"""Batched and repeated sparse direct solves (issue 20 rows of `direct_bench.py`): one pattern, many value sets.

For the nonsymmetric P2 problem (n = 20,000) and an SPD 2-D Poisson problem, per engine and for Auto: a single
solve of a new matrix, 50 successive value sets, 16 value sets in one `jax.vmap`, the same 16 one after another,
and a gradient wrt the values. Caches are cleared before every timed cell (`nativax.clear_caches()`).
"""

import time

import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np
import problems  # noqa: E402  (benchmarks/problems.py: the shared P1-P5 builders)
import scipy.sparse as sp

import nativax


def median_ms(fn, reps: int) -> float:
    times = []
    for _ in range(reps):
        nativax.clear_caches()
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(times))


def value_sets(a: sp.csr_matrix, count: int, spd: bool) -> tuple[nativax.SparseOperator, jax.Array]:
    """The operator of `a` and `count` fresh value sets on its pattern (SPD ones: positive diagonal shifts)."""
    op = nativax.SparseOperator.from_scipy(a, tags=lx.positive_semidefinite_tag if spd else ())
    pat = op.pattern
    if spd:
        rng = np.random.default_rng(7)
        diag = np.asarray(pat.rows) == np.asarray(pat.cols)
        shifts = rng.uniform(0.0, 1.0, (count, a.shape[0]))[:, np.asarray(pat.rows)] * diag
        return op, jnp.asarray(np.asarray(op.values)[None] + shifts)
    sets = []
    for k in range(count):
        ak = nativax.SparseOperator.from_scipy(problems.new_values(a, k))
        assert ak.pattern == pat
        sets.append(np.asarray(ak.values))
    return op, jnp.asarray(np.stack(sets))


def batch_row(label: str, solver, op: nativax.SparseOperator, vs: jax.Array, b: jax.Array, reps: int) -> dict:
    pat, tags = op.pattern, op.tags
    one = jax.jit(lambda v: lx.linear_solve(nativax.SparseOperator(v, pat, tags), b, solver=solver).value)
    many = jax.jit(jax.vmap(lambda v: lx.linear_solve(nativax.SparseOperator(v, pat, tags), b, solver=solver).value))
    grad = jax.jit(jax.grad(lambda v: jnp.sum(lx.linear_solve(nativax.SparseOperator(v, pat, tags), b,
                                                                solver=solver).value)))
    v16 = vs[:16]
    jax.block_until_ready((one(vs[0]), many(v16), grad(vs[0])))  # compile
    r = {"engine": label}
    r["single"] = median_ms(lambda: one(vs[0]), reps)
    r["seq16"] = median_ms(lambda: [one(v16[i]) for i in range(16)], reps)
    r["vmap16"] = median_ms(lambda: many(v16), reps)
    r["sets50"] = median_ms(lambda: [one(vs[i]) for i in range(min(50, vs.shape[0]))], 1)
    r["grad"] = median_ms(lambda: grad(vs[0]), reps)
    x = many(v16)
    a0 = nativax.SparseOperator(v16[3], pat, tags)
    r["res"] = float(jnp.linalg.norm(a0.mv(x[3]) - b) / jnp.linalg.norm(b))
    return r


def run(quick: bool, reps: int) -> list[tuple[str, list[dict]]]:
    out = []
    a2 = problems.banded_random(2_000 if quick else 20_000)
    op, vs = value_sets(a2, 50, False)
    b = jnp.asarray(np.random.default_rng(0).standard_normal(op.shape[0]))
    rows = [batch_row(lbl, s, op, vs, b, reps) for lbl, s in
            (("KLU", nativax.KLU()), ("UMFPACK", nativax.UMFPACK()), ("Auto", nativax.Auto()))]
    out.append((f"P2 nonsym n={op.shape[0]}", rows))
    a1 = problems.poisson2d(40 if quick else 200)
    op, vs = value_sets(a1, 50, True)
    b = jnp.asarray(np.random.default_rng(0).standard_normal(op.shape[0]))
    rows = [batch_row(lbl, s, op, vs, b, reps) for lbl, s in
            (("KLU", nativax.KLU()), ("CHOLMOD", nativax.CHOLMOD()), ("UMFPACK", nativax.UMFPACK()),
             ("Auto", nativax.Auto()))]
    out.append((f"2-D Poisson SPD n={op.shape[0]}", rows))
    return out


def print_table(results: list[tuple[str, list[dict]]]) -> None:
    print("\nbatched / repeated solves, median ms (caches cleared before each cell); vmap16/seq16 target <= 0.6")
    print(f"{'problem':28} {'engine':8} {'single':>8} {'seq16':>8} {'vmap16':>8} {'v/seq':>6} {'sets50':>8} "
          f"{'grad':>8} {'resid':>8}")
    for name, rows in results:
        best = {k: min(r[k] for r in rows if r["engine"] != "Auto") for k in ("single", "vmap16", "sets50", "grad")}
        for r in rows:
            print(f"{name:28} {r['engine']:8} {r['single']:8.0f} {r['seq16']:8.0f} {r['vmap16']:8.0f} "
                  f"{r['vmap16'] / r['seq16']:6.2f} {r['sets50']:8.0f} {r['grad']:8.0f} {r['res']:8.1e}")
        auto = next(r for r in rows if r["engine"] == "Auto")
        print(f"{'':28} Auto/best: " + ", ".join(f"{k} {auto[k] / best[k]:.2f}" for k in best))


if __name__ == "__main__":
    import argparse

    jax.config.update("jax_enable_x64", True)
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    print_table(run(args.quick, 1 if args.quick else args.reps))
