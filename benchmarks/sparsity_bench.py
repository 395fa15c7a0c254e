"""Sparse-Jacobian benchmark (`nativax.sparsity`): detection time, colors, materialisation, Kvaerno5.

    python benchmarks/sparsity_bench.py            # full (n = 10^6 detection, Kvaerno5 up to n = 20,000)
    python benchmarks/sparsity_bench.py --quick    # smaller sizes

Prints markdown tables:

1. pattern detection time for 2D stencils (jaxpr tracing + index-set propagation);
2. colors found versus the max-nonzeros-per-row lower bound (5-point and 9-point stencils);
3. sparse materialisation (one JVP per color, jitted) versus dense `jax.jacfwd`;
4. diffrax `Kvaerno5` on the 2D Brusselator with `nativax.KLU()` versus the default dense solver;
5. native coloring at n = 10^6 versus the former pure-Python coloring (wall and CPU time);
6. first call of detection + coloring + materialisation (5-point, n = 10^6), with the time split;
7. star coloring of the Hessian of 1/2 u^T L u + sum u^4 (2-D 5-point Laplacian);
8. diffrax `Kvaerno5` on Robertson kinetics over weakly coupled cells, KLU versus dense;
9. reverse mode on a wide Jacobian: row colors versus column colors, VJPs versus JVPs versus dense jacrev;
10. Kvaerno5 on the Brusselator with a corner sink (`du.at[corner].add`): pattern detected from the stage
    operator linearised under jit versus the exact `pattern=`, and jit versus eager first-call detection.
"""

import argparse
import os
import runpy
import time
from pathlib import Path

# The dense baseline's LU runs in OpenBLAS, whose worker threads spin against other
# processes on a shared 2-core machine (a 288 x 288 solve measured 1 ms single-threaded,
# 7-140 ms threaded under load). Single-threaded is the fair baseline here (KLU is
# single-threaded too); set OPENBLAS_NUM_THREADS yourself to override.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import jax

jax.config.update("jax_enable_x64", True)

import diffrax
import jax.numpy as jnp
import lineax as lx
import numpy as np

import nativax  # noqa: F401  (registers the native targets)
from nativax import sparsity
from nativax._sparsity.coloring import _as_csr
from nativax._sparsity.coloring_reference import color_columns_python
from nativax.coloring import color_columns, color_star, is_valid_coloring, lower_bound

ROOT = Path(__file__).resolve().parents[1]


def five_point(m: int):
    def f(x):
        u = x.reshape(m, m)
        p = jnp.pad(u, 1)
        return (p[:-2, 1:-1] + p[2:, 1:-1] + p[1:-1, :-2] + p[1:-1, 2:] - 4 * u + u**3).ravel()

    return f


def nine_point(m: int):
    def f(x):
        u = x.reshape(m, m)
        p = jnp.pad(u, 1)
        s = sum(p[1 + di: m + 1 + di, 1 + dj: m + 1 + dj] for di in (-1, 0, 1) for dj in (-1, 0, 1))
        return (s - 9 * u + jnp.sin(u)).ravel()

    return f


def roll_stencil(m: int):
    def f(x):
        u = x.reshape(m, m)
        lap = jnp.roll(u, 1, 0) + jnp.roll(u, -1, 0) + jnp.roll(u, 1, 1) + jnp.roll(u, -1, 1) - 4 * u
        return (lap + jnp.exp(u)).ravel()

    return f


def best_of(fn, reps: int) -> float:
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - start)
    return min(times)


def detection_table(sizes, reps: int) -> list[str]:
    lines = ["| function | n | nnz | detection, first call (s) | detection, best (s) |",
             "|---|---|---|---|---|"]
    for name, make in [("5-point (pad/slice)", five_point), ("9-point (pad/slice)", nine_point),
                       ("5-point (roll, periodic)", roll_stencil)]:
        for m in sizes:
            fn, x = make(m), jax.ShapeDtypeStruct((m * m,), jnp.float64)
            start = time.perf_counter()
            pattern = sparsity.jacobian_sparsity(fn, x)
            first = time.perf_counter() - start
            t = best_of(lambda fn=fn, x=x: sparsity.jacobian_sparsity(fn, x).nnz, reps)
            lines.append(f"| {name} | {m * m:,} | {pattern.nnz:,} | {first:.2f} | {t:.2f} |")
            print(lines[-1], flush=True)
    return lines


def coloring_table(sizes) -> list[str]:
    lines = ["| stencil | n | lower bound | dsatur | largest_first | natural | dsatur time (s) |",
             "|---|---|---|---|---|---|---|"]
    for name, make in [("5-point", five_point), ("9-point", nine_point)]:
        for m in sizes:
            pattern = sparsity.jacobian_sparsity(make(m), jax.ShapeDtypeStruct((m * m,), jnp.float64))
            counts = {}
            for order in ("dsatur", "largest_first", "natural"):
                start = time.perf_counter()
                colors = color_columns(pattern, order=order)
                if order == "dsatur":
                    dsatur_time = time.perf_counter() - start
                assert is_valid_coloring(pattern, colors)
                counts[order] = int(colors.max()) + 1
            lines.append(
                f"| {name} | {m * m:,} | {lower_bound(pattern)} | {counts['dsatur']} | "
                f"{counts['largest_first']} | {counts['natural']} | {dsatur_time:.2f} |"
            )
            print(lines[-1], flush=True)
    return lines


def materialise_table(sizes, reps: int) -> list[str]:
    lines = ["| function | n | colors | sparse (ms) | dense jacfwd (ms) | ratio |",
             "|---|---|---|---|---|---|"]
    for m in sizes:
        fn = five_point(m)
        x = jax.random.normal(jax.random.PRNGKey(0), (m * m,))

        @jax.jit
        def sparse_values(x, fn=fn):
            op = lx.JacobianLinearOperator(lambda y, _: fn(y), x)
            return sparsity.to_sparse_operator(op).values

        dense = jax.jit(jax.jacfwd(fn))
        jax.block_until_ready((sparse_values(x), dense(x)))
        ts = best_of(lambda f=sparse_values, x=x: f(x), reps) * 1e3
        td = best_of(lambda f=dense, x=x: f(x), reps) * 1e3
        ncolors = int(sparsity.colors_for(sparsity.jacobian_sparsity(fn, x)).max()) + 1
        lines.append(f"| 5-point + u^3 | {m * m:,} | {ncolors} | {ts:.2f} | {td:.2f} | {td / ts:.0f}x |")
        print(lines[-1], flush=True)
    return lines


def kvaerno_table(grids_both, grids_klu) -> list[str]:
    example = runpy.run_path(str(ROOT / "examples" / "brusselator_kvaerno.py"), run_name="bench")
    timed = example["timed"]
    t1, rtol = 1.0, 1e-5
    lines = ["| n | KLU steps | KLU run (s) | KLU compile (s) | dense steps | dense run (s) | "
             "dense compile (s) | speedup |", "|---|---|---|---|---|---|---|---|"]
    for grid in list(grids_both) + list(grids_klu):
        n = 2 * grid**2
        y_k, steps_k, compile_k, run_k = timed(grid, nativax.KLU(), t1, rtol)
        if grid in grids_both:
            y_d, steps_d, compile_d, run_d = timed(grid, None, t1, rtol)
            err = np.max(np.abs(y_k - y_d)) / np.max(np.abs(y_d))
            assert err < 1e-8, err
            dense = f"{steps_d} | {run_d:.2f} | {compile_d:.1f} | {run_d / run_k:.0f}x"
        else:
            dense = "- | - | - | -"
        lines.append(f"| {n:,} | {steps_k} | {run_k:.2f} | {compile_k:.1f} | {dense} |")
        print(lines[-1], flush=True)
    return lines


def timed_call(fn):
    """(result, wall seconds, CPU seconds of this process)."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = jax.block_until_ready(fn())
    return out, time.perf_counter() - wall, time.process_time() - cpu


def native_coloring_table(m: int, python: bool) -> list[str]:
    lines = ["| stencil | n | nnz | colors (native dsatur) | native wall (s) | native CPU (s) | "
             "natural: colors / wall (s) | Python dsatur: colors / wall (s) | speedup (wall) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, make in [("5-point", five_point), ("9-point", nine_point)]:
        pattern = sparsity.jacobian_sparsity(make(m), jax.ShapeDtypeStruct((m * m,), jnp.float64))
        colors, wall, cpu = min((timed_call(lambda p=pattern: color_columns(p)) for _ in range(3)), key=lambda r: r[1])
        assert is_valid_coloring(pattern, colors)
        nat, nat_wall, _ = timed_call(lambda p=pattern: color_columns(p, order="natural"))
        py = "- | -"
        speed = "-"
        if python:
            csr = _as_csr(pattern)
            ref, py_wall, _ = timed_call(lambda csr=csr: color_columns_python(csr))
            assert np.array_equal(ref, colors)
            py = f"{int(ref.max()) + 1} / {py_wall:.2f}"
            speed = f"{py_wall / wall:.0f}x"
        lines.append(f"| {name} | {m * m:,} | {pattern.nnz:,} | {int(colors.max()) + 1} | {wall:.3f} | {cpu:.3f} | "
                     f"{int(nat.max()) + 1} / {nat_wall:.3f} | {py} | {speed} |")
        print(lines[-1], flush=True)
    return lines


def first_call_table(m: int) -> list[str]:
    fn = five_point(m)
    x = jax.random.normal(jax.random.PRNGKey(0), (m * m,))
    sparsity.clear_cache()
    struct = jax.ShapeDtypeStruct((m * m,), jnp.float64)
    pattern, t_detect, _ = timed_call(lambda: sparsity.jacobian_sparsity(fn, struct))
    colors, t_color, _ = timed_call(lambda: sparsity.colors_for(pattern))
    sparsity.clear_cache()

    def sparse_values(x):
        op = lx.JacobianLinearOperator(lambda y, _: fn(y), x)
        return sparsity.to_sparse_operator(op).values

    _, t_eager, _ = timed_call(lambda: sparse_values(x))  # detection + coloring + 5 JVPs, eager
    sparsity.clear_cache()
    jitted = jax.jit(sparse_values)
    _, t_jit, _ = timed_call(lambda: jitted(x))  # + tracing and XLA compilation
    _, t_run, _ = timed_call(lambda: jitted(x))
    lines = ["| n | nnz | colors | detection (s) | coloring (s) | first call, eager (s) | first call, jit "
             "incl. compile (s) | later jitted calls (s) |", "|---|---|---|---|---|---|---|---|",
             f"| {m * m:,} | {pattern.nnz:,} | {int(colors.max()) + 1} | {t_detect:.2f} | {t_color:.3f} | "
             f"{t_eager:.2f} | {t_jit:.2f} | {t_run:.3f} |"]
    print(lines[-1], flush=True)
    return lines


def star_table(sizes) -> list[str]:
    lines = ["| Hessian of | n | nnz | star colors | distance-2 colors | detection (s) | star coloring (s) |",
             "|---|---|---|---|---|---|---|"]
    for m in sizes:
        def e(u, m=m):
            w = u.reshape(m, m)
            p = jnp.pad(w, 1)
            lu = 4 * w - p[:-2, 1:-1] - p[2:, 1:-1] - p[1:-1, :-2] - p[1:-1, 2:]
            return 0.5 * jnp.vdot(w, lu) + jnp.sum(w**4)

        struct = jax.ShapeDtypeStruct((m * m,), jnp.float64)
        pattern, t_detect, _ = timed_call(lambda e=e, struct=struct: sparsity.hessian_sparsity(e, struct))
        colors, t_star, _ = timed_call(lambda p=pattern: color_star(p))
        d2 = int(color_columns(pattern).max()) + 1
        lines.append(f"| 1/2 u'Lu + sum u^4 | {m * m:,} | {pattern.nnz:,} | {int(colors.max()) + 1} | {d2} | "
                     f"{t_detect:.2f} | {t_star:.3f} |")
        print(lines[-1], flush=True)
    return lines


def wide_block(blocks: int):
    """`blocks + 1` outputs of `n` inputs: one dense row (sum of squares), then block sums of cubes."""
    def f(x):
        return jnp.concatenate([jnp.sum(x**2)[None], jnp.sum(x.reshape(blocks, -1) ** 3, axis=1)])

    return f


def reverse_table(sizes, reps: int) -> list[str]:
    from nativax._sparsity.detect import _reverse_pays

    lines = ["| function | m | n | nnz | column colors (= n: a dense row) | row colors | auto picks | row coloring (s) | "
             "sparse rev (ms) | sparse fwd (ms) | dense jacrev (ms) |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    blocks = 100
    for n in sizes:
        fn = wide_block(blocks)
        x = jax.random.normal(jax.random.PRNGKey(0), (n,))
        pattern = sparsity.jacobian_sparsity(fn, x)
        sparsity.clear_cache()
        rows, t_rows, _ = timed_call(lambda p=pattern: sparsity.colors_for(p, mode="rev"))
        picks = "rev" if _reverse_pays(pattern) else "fwd"
        # the dense row makes the columns' distance-2 graph complete: n colors, and quadratic work
        cols = sparsity.colors_for(pattern).max() + 1 if n <= 5000 else lower_bound(pattern)

        def values(x, mode, fn=fn):
            return sparsity.to_sparse_operator(lx.JacobianLinearOperator(lambda y, _: fn(y), x), mode=mode).values

        times = {}
        for mode in ("rev", "fwd"):
            if mode == "fwd" and n > 5000:  # n JVPs on n-vectors: n^2 memory
                times[mode] = "-"
                continue
            f = jax.jit(lambda x, mode=mode: values(x, mode))
            jax.block_until_ready(f(x))
            times[mode] = f"{best_of(lambda f=f, x=x: f(x), reps) * 1e3:.2f}"
        if n <= 5000:
            dense = jax.jit(jax.jacrev(fn))
            jax.block_until_ready(dense(x))
            td = f"{best_of(lambda dense=dense, x=x: dense(x), reps) * 1e3:.2f}"
            auto = jax.jit(lambda x, fn=fn: sparsity.to_sparse_operator(
                lx.JacobianLinearOperator(lambda y, _: fn(y), x)).as_matrix())
            np.testing.assert_allclose(auto(x), dense(x), rtol=1e-12)
        else:
            td = "-"
        lines.append(f"| dense row + {blocks} block sums | {blocks + 1} | {n:,} | {pattern.nnz:,} | "
                     f"{int(cols):,} | {int(rows.max()) + 1} | {picks} | {t_rows:.3f} | {times['rev']} | "
                     f"{times['fwd']} | {td} |")
        print(lines[-1], flush=True)
    return lines


def robertson_table(cells_both, cells_klu) -> list[str]:
    example = runpy.run_path(str(ROOT / "examples" / "robertson_cells.py"), run_name="bench")
    timed = example["timed"]
    lines = ["| n | KLU steps | KLU run (s) | KLU compile (s) | dense steps | dense run (s) | dense compile (s) | "
             "speedup |", "|---|---|---|---|---|---|---|---|"]
    for cells in list(cells_both) + list(cells_klu):
        y_k, steps_k, compile_k, run_k = timed(cells, nativax.KLU())
        if cells in cells_both:
            y_d, steps_d, compile_d, run_d = timed(cells, None)
            assert np.max(np.abs(y_k - y_d)) / np.max(np.abs(y_d)) < 1e-8
            dense = f"{steps_d} | {run_d:.2f} | {compile_d:.1f} | {run_d / run_k:.0f}x"
        else:
            dense = "- | - | - | -"
        lines.append(f"| {3 * cells:,} | {steps_k} | {run_k:.2f} | {compile_k:.1f} | {dense} |")
        print(lines[-1], flush=True)
    return lines


def corner_sink_table(grids) -> list[str]:
    """Issue 18: the Brusselator with a corner sink written `du.at[corner].add(...)`, in Kvaerno5 with the
    pattern detected from the linearised stage operator versus the exact pattern passed as `pattern=`; and
    the first-call detection time of the operator linearised under jit versus eager detection."""
    from nativax._sparsity.detect import _operator_pattern

    example = runpy.run_path(str(ROOT / "examples" / "brusselator_kvaerno.py"), run_name="bench")
    t1, rtol = 1.0, 1e-5
    lines = ["| n | nnz exact | nnz detected (jit) | eager detection (s) | jit detection (s) | jit / eager | "
             "steps | run, detected (s) | run, pattern= (s) | detected / pattern= | compile det. / pat. (s) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for grid in [6, *grids]:  # grid 6: a warm-up (one-time costs of the process), not reported
        base, y0 = example["brusselator"](grid)
        corner = np.ravel_multi_index((np.repeat(np.arange(3), 3), np.tile(np.arange(3), 3)), (grid, grid))

        def rhs(t, y, args, base=base, corner=corner):
            return base(t, y, args).at[corner].add(-0.1 * y[corner])

        n = y0.size
        sparsity.clear_cache()
        start = time.perf_counter()
        exact = sparsity.jacobian_sparsity(lambda y: rhs(0.0, y, None), y0)
        eager = time.perf_counter() - start
        found = []

        def lin(y, found=found, rhs=rhs):
            op = lx.linearise(lx.JacobianLinearOperator(lambda y, a: rhs(0.0, y, a), y))
            sparsity.clear_cache()
            start = time.perf_counter()
            found.append(_operator_pattern(op))
            found.append(time.perf_counter() - start)
            return 0

        jax.jit(lin).lower(y0)
        detected, jit_time = found
        if grid == 6:
            continue
        runs = {}
        for name, solver in [("detected", nativax.KLU()), ("pattern", nativax.KLU(pattern=exact))]:
            root_finder = diffrax.with_stepsize_controller_tols(diffrax.VeryChord)(linear_solver=solver)

            @jax.jit
            def solve(y0, root_finder=root_finder):
                sol = diffrax.diffeqsolve(
                    diffrax.ODETerm(rhs), diffrax.Kvaerno5(root_finder=root_finder), 0.0, t1, 1e-4, y0,
                    stepsize_controller=diffrax.PIDController(rtol=rtol, atol=rtol), max_steps=100_000)
                return sol.ys[-1], sol.stats["num_steps"]

            sparsity.clear_cache()
            start = time.perf_counter()
            compiled = solve.lower(y0).compile()
            compile_time = time.perf_counter() - start
            nativax.clear_caches()
            start = time.perf_counter()
            y, steps = jax.block_until_ready(compiled(y0))
            runs[name] = (np.asarray(y), int(steps), time.perf_counter() - start, compile_time)
        (y_d, s_d, r_d, c_d), (y_p, s_p, r_p, c_p) = runs["detected"], runs["pattern"]
        assert s_d == s_p and np.max(np.abs(y_d - y_p)) <= 1e-10 * np.max(np.abs(y_p)), (s_d, s_p)
        lines.append(f"| {n:,} | {exact.nnz:,} | {detected.nnz:,} | {eager:.3f} | {jit_time:.3f} | "
                     f"{jit_time / eager:.2f}x | {s_d} | {r_d:.2f} | {r_p:.2f} | {r_d / r_p:.2f}x | "
                     f"{c_d:.1f} / {c_p:.1f} |")
        print(lines[-1], flush=True)
    return lines


SECTIONS = ("detection", "coloring", "materialise", "kvaerno", "native_coloring", "first_call", "star", "robertson",
            "reverse", "corner_sink")


def main(quick: bool, only: tuple[str, ...] = SECTIONS) -> str:
    print(f"jax {jax.__version__}, backend {jax.default_backend()}, "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}", flush=True)
    runs = {
        "detection": lambda: ("Pattern detection", detection_table(
            [100, 300] if quick else [300, 1000], 1 if quick else 3)),
        "coloring": lambda: ("Coloring", coloring_table([30, 100] if quick else [100, 300])),
        "materialise": lambda: ("Materialisation (jitted, best of 5)", materialise_table(
            [16, 32] if quick else [16, 32, 64], 5)),
        "kvaerno": lambda: ("Kvaerno5 on the 2D Brusselator, t in [0, 1], rtol = atol = 1e-5",
                            kvaerno_table([8, 12] if quick else [8, 12, 16, 20],
                                          [20] if quick else [50, 100])),
        "native_coloring": lambda: ("Native coloring versus the former Python coloring (best of 3)",
                                    native_coloring_table(300 if quick else 1000, True)),
        "first_call": lambda: ("Detection + coloring + materialisation, first call (5-point + u^3)",
                               first_call_table(300 if quick else 1000)),
        "star": lambda: ("Star coloring of a Hessian", star_table([100] if quick else [100, 1000])),
        "robertson": lambda: ("Kvaerno5 on Robertson kinetics over coupled cells, t in [0, 40], rtol 1e-6, "
                              "atol 1e-10", robertson_table([50] if quick else [50, 200],
                                                            [1000] if quick else [10_000])),
        "reverse": lambda: ("Reverse mode on a wide Jacobian (jitted, best of 5)",
                            reverse_table([2000] if quick else [4000, 1_000_000], 5)),
        "corner_sink": lambda: ("Kvaerno5 on the Brusselator with a corner sink (`.at[corner].add`): detected "
                                "versus exact `pattern=`, t in [0, 1], rtol = atol = 1e-5",
                                corner_sink_table([12] if quick else [30, 50])),
    }
    sections = [runs[name]() for name in only]
    text = "\n\n".join(f"### {title}\n\n" + "\n".join(lines) for title, lines in sections)
    print("\n" + text)
    return text


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=SECTIONS, help="sections to run")
    args = parser.parse_args()
    main(args.quick, tuple(args.only))
