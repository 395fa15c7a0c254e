"""Gaussian-model operations on sparse precision matrices: nativax.gaussian / nativax.logdet against sparsax (if
installed) on the same matrices, fresh values every repeat (so every cache-managed call factorizes).

Problems: the Matérn (alpha = 2) SPDE precision Q = tau^2 K K with K = kappa^2 I - Laplacian on a 2-D grid
(200^2 -> n = 40,000 with 516,004 nonzeros; 500^2 -> n = 250,000) and a 3-D grid (12^3 -> n = 1,728).

Rows (median seconds of `--repeats` runs): a fresh numeric factorization (held symbolic, eager), log det, grad
of log det, selected inverse (full pattern and diagonal only; also on a held factorization, i.e. without the
factorization), 1 and 64 samples x ~ N(0, Q^{-1}), and a rank-16 update of a held factorization (16 point
observations: one nonzero per column of C) against a fresh numeric factorization. sparsax has no diagonal-only
selected inverse (its row is the full one) and its update is fused with a solve (`update_solve`): the nativax
row it is compared with is update + solve.

    python benchmarks/gmrf_bench.py                 # 200^2, 500^2, 12^3
    python benchmarks/gmrf_bench.py --quick         # 60^2 and 8^3, one repeat (a smoke run)
    OPENBLAS_NUM_THREADS=1 python benchmarks/gmrf_bench.py --cpu-time   # CPU seconds: for a loaded machine
"""

import argparse
import os
import statistics
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp
import numpy as np
import scipy.sparse as sp

import nativax
from nativax import gaussian as G

try:
    import sparsax
except ImportError:  # sparsax is optional: its columns are left out
    sparsax = None


def laplacian(m: int, dim: int) -> sp.csr_matrix:
    t = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(m, m))
    e = sp.eye(m)
    if dim == 2:
        return (sp.kron(t, e) + sp.kron(e, t)).tocsr()
    return (sp.kron(sp.kron(t, e), e) + sp.kron(sp.kron(e, t), e) + sp.kron(sp.kron(e, e), t)).tocsr()


def matern_precision(m: int, dim: int, kappa: float = 0.5, tau: float = 1.0) -> sp.coo_matrix:
    """Q = tau^2 (kappa^2 I + L)^2 on an m^dim grid (finite-difference Matérn SPDE, alpha = 2)."""
    k = kappa**2 * sp.eye(m**dim) + laplacian(m, dim)
    q = (tau**2 * (k @ k)).tocsc()
    q.sort_indices()
    return q.tocoo()


CLOCK = time.perf_counter  # --cpu-time: time.process_time (CPU seconds of all threads; robust to a loaded machine)


def timed(fn, repeats: int) -> float:
    ts = []
    for i in range(repeats):
        t0 = CLOCK()
        jax.block_until_ready(fn(i))
        ts.append(CLOCK() - t0)
    return statistics.median(ts)


def bench_nativax(q: sp.coo_matrix, repeats: int) -> dict[str, float]:
    op = nativax.SparseOperator.from_scipy(q.tocsr())
    pat, base = op.pattern, np.asarray(op.values)
    n = pat.shape[0]
    fresh = lambda i: jnp.asarray(base * (1.0 + 1e-3 * (i + 1)))  # noqa: E731
    as_op = lambda v: nativax.SparseOperator(v, pat)  # noqa: E731
    out: dict[str, float] = {}
    nativax.clear_caches()
    sym = nativax.cholmod.analyze(pat.rows, pat.cols, n)
    nativax.cholmod.factor(sym, base).close()

    def factor(i):
        nativax.cholmod.factor(sym, np.asarray(fresh(i))).close()

    out["factor (numeric)"] = timed(factor, repeats)
    fns = {
        "logdet": jax.jit(lambda v: nativax.logdet(as_op(v))),
        "grad logdet": jax.jit(jax.grad(lambda v: nativax.logdet(as_op(v)))),
        "selinv full": jax.jit(lambda v: G.selected_inverse(as_op(v)).values),
        "selinv diag": jax.jit(lambda v: G.marginal_variances(as_op(v))),
        "1 sample": jax.jit(lambda v: G.sample(as_op(v), jax.random.PRNGKey(0))),
        "64 samples": jax.jit(lambda v: G.sample(as_op(v), jax.random.PRNGKey(0), (64,))),
    }
    for name, f in fns.items():
        nativax.clear_caches()
        jax.block_until_ready(f(fresh(-2)))  # compile
        out[name] = timed(lambda i, f=f: f(fresh(i + 100 * len(out))), repeats)
    with nativax.cholmod.factor(sym, base) as num:
        jax.block_until_ready((G.selected_inverse(num).values, G.marginal_variances(num)))  # compile
        out["selinv full (held)"] = timed(lambda i: G.selected_inverse(num).values, repeats)
        out["selinv diag (held)"] = timed(lambda i: G.marginal_variances(num), repeats)
        rng = np.random.default_rng(0)
        b = np.ones(n)

        def cols(i):
            c = np.zeros((n, 16))
            c[rng.choice(n, 16, replace=False), np.arange(16)] = 1.0
            return c

        def upd(i):
            G.update(num, cols(i)).close()

        def upd_solve(i):
            with G.update(num, cols(i)) as u:
                return nativax.cholmod.solve_with_numeric(u, b)

        upd_solve(0)  # compile the held solve
        out["rank-16 update"] = timed(upd, repeats)
        out["rank-16 update + solve"] = timed(upd_solve, repeats)
    return out


def bench_sparsax(q: sp.coo_matrix, repeats: int) -> dict[str, float]:
    ai, aj = jnp.asarray(q.row, jnp.int32), jnp.asarray(q.col, jnp.int32)
    base = np.asarray(q.data)
    n = q.shape[0]
    fresh = lambda i: jnp.asarray(base * (1.0 + 1e-3 * (i + 1)))  # noqa: E731
    diag = jnp.asarray(np.flatnonzero(q.row == q.col))
    fns = {
        "logdet": jax.jit(lambda v: sparsax.logdet(ai, aj, v, n)),
        "grad logdet": jax.jit(jax.grad(lambda v: sparsax.logdet(ai, aj, v, n))),
        "selinv full": jax.jit(lambda v: sparsax.selinv(ai, aj, v, n)),
        "selinv diag": jax.jit(lambda v: sparsax.selinv(ai, aj, v, n)[diag]),
        "1 sample": jax.jit(lambda v: sparsax.sample_gaussian(
            ai, aj, v, jnp.zeros(n), jax.random.normal(jax.random.PRNGKey(0), (n,)))[0]),
        "64 samples": jax.jit(lambda v: sparsax.sample_gaussian(
            ai, aj, v, jnp.zeros((n, 64)), jax.random.normal(jax.random.PRNGKey(0), (n, 64)))[0]),
    }
    out: dict[str, float] = {}
    for name, f in fns.items():
        sparsax.clear_cache()
        jax.block_until_ready(f(fresh(-2)))
        out[name] = timed(lambda i, f=f: f(fresh(i + 100 * len(out))), repeats)
    rng = np.random.default_rng(0)
    v0 = jnp.asarray(base)
    b = jnp.ones(n)
    upd = jax.jit(lambda c: sparsax.update_solve(ai, aj, v0, c, b))

    def cols(i):
        c = np.zeros((n, 16))
        c[rng.choice(n, 16, replace=False), np.arange(16)] = 1.0
        return jnp.asarray(c)

    jax.block_until_ready(upd(cols(0)))  # compile + factor A once (A is held fixed)
    out["rank-16 update + solve"] = timed(lambda i: upd(cols(i)), repeats)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes, one repeat")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-sparsax", action="store_true")
    ap.add_argument("--sizes", default="12^3,200^2,500^2", help="comma-separated m^dim problems")
    ap.add_argument("--cpu-time", action="store_true",
                    help="time CPU seconds of the process (all threads) instead of wall clock")
    args = ap.parse_args()
    global CLOCK
    if args.cpu_time:
        CLOCK = time.process_time
    sizes = "60^2,8^3" if args.quick else args.sizes
    problems = []
    for item in sizes.split(","):
        m, dim = (int(x) for x in item.strip().split("^"))
        problems.append((f"{'2-D Matérn' if dim == 2 else '3-D'} {m}^{dim}", m, dim))
    repeats = 1 if args.quick else args.repeats
    use_sparsax = sparsax is not None and not args.no_sparsax
    sx_label = getattr(sparsax, "__version__", "installed") if use_sparsax else "not used"
    print(f"load: {os.getloadavg()[0]:.2f} (1 min); sparsax: {sx_label}; clock: "
          f"{'CPU seconds (process_time)' if args.cpu_time else 'wall'}; "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}")
    for label, m, dim in problems:
        q = matern_precision(m, dim)
        print(f"\n{label}: n = {q.shape[0]:,}, nnz = {q.nnz:,}")
        nv = bench_nativax(q, repeats)
        sx = bench_sparsax(q, repeats) if use_sparsax else {}
        f = nv["factor (numeric)"]
        unit = "cpu ms" if args.cpu_time else "ms"
        print(f"{'operation':<26}{'nativax ' + unit:>16}{'x factor':>10}{'sparsax ' + unit:>16}{'sparsax/nativax':>17}")
        for name, t in nv.items():
            s = sx.get(name)
            extra = f"{1e3 * s:>16.1f}{s / t:>17.2f}" if s is not None else f"{'-':>16}{'-':>17}"
            print(f"{name:<26}{1e3 * t:>16.1f}{t / f:>10.2f}{extra}")
        print(f"grad logdet / logdet: {nv['grad logdet'] / nv['logdet']:.2f} (target <= 3); "
              f"selinv full (held) / factor: {nv['selinv full (held)'] / f:.2f} (target <= 3); "
              f"rank-16 update / factor: {nv['rank-16 update'] / f:.2f} (target <= 0.3)")


if __name__ == "__main__":
    main()
