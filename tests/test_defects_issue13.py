"""Regression tests for issue 13 (reproductions in shared/repro): each defect gives the right answer or a clear
error. Process aborts, pickles across processes and environment variables run in subprocesses."""

import gc
import os
import pickle
import subprocess
import sys
import textwrap
import warnings

import equinox as eqx
import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np
import pytest
import scipy.sparse as sp

import nativax
from nativax import klu


def _poisson(k: int = 10) -> nativax.SparseOperator:
    t = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(k, k))
    return nativax.SparseOperator.from_scipy(sp.kron(t, sp.eye(k)) + sp.kron(sp.eye(k), t), tags=(lx.symmetric_tag,))


def _run(code: str, env: dict | None = None, cwd: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300,
        env={**os.environ, **(env or {})}, cwd=cwd,
    )


# ---- 2: AMG with Inf/NaN in b -------------------------------------------------------------------------------
@pytest.mark.parametrize("krylov", ["cg", "gmres", "bicgstab", None])
@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_amg_nonfinite_rhs_is_reported_for_every_krylov(krylov, bad):
    op = _poisson()
    b = jnp.ones(100).at[0].set(bad)
    sol = lx.linear_solve(op, b, solver=nativax.AMG(krylov=krylov), throw=False)
    assert sol.result == lx.RESULTS.nonfinite_input
    with pytest.raises(eqx.EquinoxRuntimeError, match="non-finite"):
        jax.block_until_ready(lx.linear_solve(op, b, solver=nativax.AMG(krylov=krylov)).value)


def test_amg_nonfinite_rhs_under_vmap_marks_only_the_bad_member():
    op = _poisson()
    bs = jnp.ones((3, 100)).at[1, 5].set(jnp.inf)
    solver = nativax.AMG().setup(op)
    res = jax.vmap(lambda b: lx.linear_solve(op, b, solver=solver, throw=False).result._value)(bs)
    ok, nonfinite = lx.RESULTS.successful._value, lx.RESULTS.nonfinite_input._value
    assert list(np.asarray(res)) == [ok, nonfinite, ok]


# ---- 3: pickled handles rebuild in a new process, never alias -----------------------------------------------
def test_pickled_held_solver_rebuilds_in_a_new_process(tmp_path):
    write = _run("""
        import pickle, jax; jax.config.update("jax_enable_x64", True)
        import scipy.sparse as sp, nativax
        op1 = nativax.SparseOperator.from_scipy(sp.diags([1.0, 2.0, 3.0, 4.0]) + sp.eye(4, k=1))
        pickle.dump((op1, nativax.KLU.factor(op1)), open("held.pkl", "wb"))
    """, cwd=str(tmp_path))
    assert write.returncode == 0, write.stderr
    read = _run("""
        import pickle, jax; jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp, lineax as lx, scipy.sparse as sp, nativax, numpy as np
        other = nativax.KLU.factor(nativax.SparseOperator.from_scipy(sp.diags([10.0, 20.0, 30.0, 40.0]) + 5 * sp.eye(4, k=1)))
        op1, held = pickle.load(open("held.pkl", "rb"))
        assert not held.numeric.closed and held.numeric.id != other.numeric.id
        x = lx.linear_solve(op1, jnp.ones(4), solver=held).value
        np.testing.assert_allclose(x, np.linalg.solve(np.asarray(op1.as_matrix()), np.ones(4)), rtol=1e-12)
        print("OK")
    """, cwd=str(tmp_path))
    assert read.returncode == 0 and "OK" in read.stdout, read.stderr


def test_pickle_round_trip_in_process_and_freed_handles_refuse(coo):
    r, c, v, a = coo
    sym = klu.analyze(r, c)
    num = klu.factor(sym, v)
    num2 = pickle.loads(pickle.dumps(num))
    assert num2.id != num.id and num2.symbolic.id != sym.id
    b = np.arange(a.shape[0], dtype=float)
    np.testing.assert_allclose(klu.solve_with_numeric(num2, b), np.linalg.solve(a, b), rtol=1e-10)
    num.close()
    with pytest.raises(nativax.FreedHandleError, match="cannot pickle a freed"):
        pickle.dumps(num)


# ---- 4: held solvers are collected and share one compiled program -------------------------------------------
def _compile_counter():
    count = [0]

    def listener(event, duration, **kwargs):
        if event == "/jax/core/compile/backend_compile_duration":
            count[0] += 1

    jax.monitoring.register_event_duration_secs_listener(listener)
    return count


def test_dropped_held_solvers_are_freed_and_do_not_recompile():
    op = nativax.SparseOperator.from_scipy(sp.random(30, 30, density=0.1, random_state=0) + 4 * sp.eye(30))
    gc.collect()
    live0 = nativax.cache_info()["handles"]["live"]
    compiles = _compile_counter()
    b = jnp.ones(30)
    counts = {}

    def newton_loop():  # a Newton loop: new values, new factorization each step
        for i in range(40):
            op_i = nativax.SparseOperator(op.values * (1 + 0.01 * i), op.pattern)
            solver = nativax.KLU.factor(op_i)
            x = lx.linear_solve(op_i, b, solver=solver).value
            np.testing.assert_allclose(op_i.mv(x), b, rtol=1e-10, atol=1e-12)
            if i == 0:
                counts["first"] = compiles[0]
            del solver
            # No jax.clear_caches() needed: no compiled program or cache key refers to the handles. (While this
            # frame runs, it may keep the first step's solver: equinox's trace-time `error_if` reads every
            # caller's `f_locals`, which on Python <= 3.12 snapshots the locals; bounded, freed on return.)
            counts["max_live"] = max(counts.get("max_live", 0), nativax.cache_info()["handles"]["live"] - live0)

    newton_loop()
    assert counts["first"] >= 1  # the listener sees compiles (so the next check can fail)
    assert compiles[0] == counts["first"], f"{compiles[0] - counts['first']} recompilations for new held solvers"
    assert counts["max_live"] <= 4
    gc.collect()
    assert nativax.cache_info()["handles"]["live"] == live0


def test_held_solver_passes_through_tree_maps_and_still_refuses_other_values():
    op = nativax.SparseOperator.from_scipy(sp.eye(4) * 2 + sp.eye(4, k=1))
    held = nativax.KLU.factor(op)
    same = jax.tree.map(lambda x: x, held)
    assert same.numeric is held.numeric  # unflattened with the same leaves: the owner itself
    other = nativax.SparseOperator(op.values * 3, op.pattern)
    with pytest.raises(Exception, match="different matrix"):
        jax.block_until_ready(jax.jit(lambda o: lx.linear_solve(o, jnp.ones(4), solver=held).value)(other))


# ---- 5: int64 indices beyond int32 are rejected, never wrapped ----------------------------------------------
def test_int64_indices_beyond_int32_are_rejected_eagerly_and_under_jit():
    rows = np.array([0, 1, 2**32 + 1], dtype=np.int64)
    cols = np.array([0, 1, 0])
    vals = np.array([1.0, 2.0, 5.0])
    b = np.ones(2)
    with pytest.raises(ValueError, match="`rows` index 4294967297 .* 32-bit"):
        klu.solve(rows, cols, vals, b)
    with pytest.raises(Exception, match="`rows` has an index above the 32-bit"):
        jax.block_until_ready(jax.jit(klu.solve)(rows, cols, vals, b))
    with pytest.raises(Exception, match="`cols` has an index above the 32-bit"):
        jax.block_until_ready(jax.jit(lambda c: klu.dot(cols, c, vals, b))(rows))
    with pytest.raises(ValueError, match="out of range"):
        nativax.SparsityPattern(rows, cols, (2, 2))
    # in range int64 under jit still works
    ok = jax.jit(klu.solve)(np.array([0, 1], np.int64), np.array([0, 1], np.int64), np.array([2.0, 4.0]), b)
    np.testing.assert_allclose(ok, [0.5, 0.25])


# ---- 6: threads and environment variables -------------------------------------------------------------------
def test_huge_thread_count_is_clamped_not_an_abort():
    p = _run("""
        import jax; jax.config.update("jax_enable_x64", True)
        import numpy as np, nativax
        x = nativax.klu.solve([0, 1], [0, 1], np.array([[1.0, 2.0], [3.0, 4.0]]), np.ones(2))
        np.testing.assert_allclose(x, [[1.0, 0.5], [1 / 3, 0.25]])
        assert 1 <= nativax._core.native.lib.num_threads() <= nativax._core.native.lib.max_threads_per_core * __import__("os").cpu_count()
        print("OK")
    """, env={"NATIVAX_NUM_THREADS": "100000"})
    assert p.returncode == 0 and "OK" in p.stdout, (p.returncode, p.stderr[-2000:])
    assert "NATIVAX_NUM_THREADS=100000" in p.stderr and "clamped" in p.stderr


def test_bad_environment_values_warn_by_name():
    from nativax._core.env import NativaxEnvWarning, check_environment

    env = {"NATIVAX_CACHE_SIZE": "-3", "NATIVAX_CACHE_BYTES": "1GB", "NATIVAX_NUM_THREADS": "zero",
           "NATIVAX_IGNORE_MANUAL_FREE": "yes", "NATIVAX_NUM_THREAD": "4", "NATIVAX_AMGX_CACHE_SIZE": "4",
           "NATIVAX_AMGX_LIBRARY": "/no/such/libamgxsh.so"}
    with pytest.warns(NativaxEnvWarning) as rec:
        msgs = check_environment(env, max_threads=8)
    text = "\n".join(msgs)
    assert len(rec) == len(msgs) == 6
    for name in ("NATIVAX_CACHE_SIZE='-3'", "NATIVAX_CACHE_BYTES='1GB'", "NATIVAX_NUM_THREADS='zero'",
                 "NATIVAX_IGNORE_MANUAL_FREE='yes'", "did you mean NATIVAX_NUM_THREADS", "NATIVAX_AMGX_LIBRARY"):
        assert name in text
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_environment({"NATIVAX_CACHE_SIZE": "4", "NATIVAX_NUM_THREADS": "2"}, max_threads=8) == []


def test_bad_environment_at_import_warns_and_still_works():
    p = _run("""
        import numpy as np, nativax
        print(nativax.cache_info()["klu"]["capacity"])
    """, env={"NATIVAX_CACHE_SIZE": "lots"})
    assert p.returncode == 0, p.stderr
    assert "NATIVAX_CACHE_SIZE='lots' is not usable" in p.stderr and p.stdout.strip() == "8"


# ---- lesser defects (r7_misc.py) ----------------------------------------------------------------------------
R, C, V = np.array([0, 1, 1]), np.array([0, 0, 1]), np.array([2.0, 1.0, 3.0])


def test_b_too_long_is_a_shape_error_not_singular():
    with pytest.raises(ValueError, match="`b` has 3 rows but `rows`/`cols` index only a 2 x 2"):
        klu.solve(R, C, V, np.ones(3))


def test_bfloat16_values_are_computed_in_double():
    sym = klu.analyze(R, C, 2)
    num = klu.factor(sym, jnp.asarray(V, jnp.bfloat16))
    assert num.dtype == np.float64
    np.testing.assert_allclose(klu.solve_with_numeric(num, np.ones(2)), [0.5, 1 / 6], rtol=1e-12)
    x = klu.solve(R, C, jnp.asarray(V, jnp.bfloat16), jnp.ones(2, jnp.bfloat16))
    assert x.dtype == jnp.bfloat16
    np.testing.assert_allclose(np.asarray(x, np.float64), [0.5, 1 / 6], rtol=1e-2)


def test_empty_batch_solves_to_an_empty_result():
    # lineax's convention (issue 20): an empty batch is solved, not an error.
    assert klu.solve(R, C, np.zeros((0, 3)), np.ones(2)).shape == (0, 2)


def test_negation_flips_definiteness_tags():
    psd = nativax.SparseOperator.from_scipy(sp.eye(3) * 2, tags=(lx.positive_semidefinite_tag, lx.symmetric_tag))
    neg = nativax.as_sparse_operator(-psd)
    assert lx.negative_semidefinite_tag in neg.tags and lx.positive_semidefinite_tag not in neg.tags
    assert lx.symmetric_tag in neg.tags
    assert lx.is_negative_semidefinite(neg) == lx.is_negative_semidefinite(-psd)


@pytest.mark.parametrize(
    "rows, cols, shape, match",
    [
        ([0, 0, 1], [0, 0, 1], (2, 2), "duplicate"),
        ([1, 0], [0, 0], (2, 2), "out of CSC order"),
        ([0, -1], [0, 1], (2, 2), "out of range"),
        ([0, 2], [0, 1], (2, 2), "out of range"),
        ([0, 1], [0], (2, 2), "differ in length"),
        ([0.0, 1.0], [0, 1], (2, 2), "integers"),
        ([[0, 1]], [[0, 1]], (2, 2), "1-D"),
        ([0], [0], (2,), "shape"),
    ],
)
def test_public_pattern_constructor_validates(rows, cols, shape, match):
    with pytest.raises((ValueError, TypeError), match=match):
        nativax.SparsityPattern(np.asarray(rows), np.asarray(cols), shape)


def test_from_bcoo_accepts_padded_input():
    from jax.experimental import sparse as jsp

    dense = jnp.array([[2.0, 0, 1], [0, 3, 0], [0, 0, 4]])
    m = jsp.BCOO.fromdense(dense, nse=7)
    op = nativax.SparseOperator.from_bcoo(m)
    assert op.pattern.nnz == 4
    np.testing.assert_allclose(op.as_matrix(), dense)
    np.testing.assert_allclose(lx.linear_solve(op, jnp.ones(3), solver=nativax.KLU()).value,
                               np.linalg.solve(dense, np.ones(3)), rtol=1e-12)


def test_cache_refactor_accuracy_does_not_depend_on_history():
    """A drifting sequence (optimisation loop) through a full cache: each refactor reuses the first matrix's
    pivot order. Backward errors must stay close to a fresh factorization's (before the fix: up to 127x)."""
    n = 300
    a = (sp.random(n, n, density=0.02, random_state=1, format="coo") + sp.eye(n)).tocoo()
    a.sum_duplicates()
    r, c = a.row, a.col
    diag = r == c

    def berr(v, x, b):
        m = sp.coo_matrix((v, (r, c)), shape=(n, n)).tocsr()
        return np.linalg.norm(m @ x - b, np.inf) / (abs(m).max() * np.abs(x).sum() + np.abs(b).max())

    cap = nativax.cache_info()["klu"]["capacity"]
    worst = 1.0
    try:
        for seed in range(3):
            rng = np.random.default_rng(seed)
            v1 = rng.standard_normal(r.size)
            v1[diag] = 20.0
            v2 = rng.standard_normal(r.size)
            v2[diag] = 1e-3 * rng.standard_normal(diag.sum())
            b = rng.standard_normal(n)
            sym = klu.analyze(r, c, n)
            nativax.clear_caches()
            nativax.set_cache_size(1)
            for t in np.linspace(0, 1, 41):
                v = (1 - t) * v1 + t * v2
                x_cached = np.asarray(klu.solve(r, c, v, b))
                x_fresh = np.asarray(klu.solve_with_numeric(klu.factor(sym, v), b))
                worst = max(worst, berr(v, x_cached, b) / max(berr(v, x_fresh, b), 1e-300))
    finally:
        nativax.set_cache_size(cap)
    assert worst < 30, worst


# ---- usability ----------------------------------------------------------------------------------------------
def test_klu_pattern_for_matrix_free_operators():
    n = 40
    k = np.arange(n)
    rows, cols = np.concatenate([k, k[1:], k[:-1]]), np.concatenate([k, k[:-1], k[1:]])
    pattern, _ = nativax.SparsityPattern.from_coo(rows, cols, (n, n))

    def f(y):
        return 3 * y + jnp.concatenate([y[1:], y[:1] * 0]) - jnp.concatenate([y[:1] * 0, y[:-1]]) ** 2

    y0 = jnp.linspace(0.1, 1.0, n)
    op = lx.JacobianLinearOperator(lambda y, _: f(y), y0)
    b = jnp.ones(n)
    x = lx.linear_solve(op, b, solver=nativax.KLU(pattern=pattern)).value
    np.testing.assert_allclose(x, np.linalg.solve(jax.jacfwd(f)(y0), b), rtol=1e-10)
    with pytest.raises(TypeError, match="`pattern` must be a SparsityPattern"):
        nativax.KLU(pattern=np.eye(3))


def test_solution_stats_for_klu_and_amg():
    op = _poisson()
    s = lx.linear_solve(op, jnp.ones(100), solver=nativax.KLU()).stats
    assert int(s["nnz"]) == op.pattern.nnz and int(s["n"]) == 100 and int(s["status"]) == 0 and not s["held"]
    held = nativax.KLU.factor(op)
    s = lx.linear_solve(op, jnp.ones(100), solver=held).stats
    assert 0 < float(s["rcond"]) <= 1 and float(s["factor_nnz"]) >= op.pattern.nnz
    assert float(s["rcond"]) == pytest.approx(held.numeric.rcond)
    s = lx.linear_solve(op, jnp.ones(100), solver=nativax.AMG(max_coarse=10)).stats
    assert int(s["levels"]) >= 2 and int(s["level_sizes"][0]) == 100 and int(s["num_steps"]) > 0
    # a Solution with stats is a valid jax.jit output
    jax.jit(lambda bb: lx.linear_solve(op, bb, solver=held))(jnp.ones(100))
    text = nativax.AMG(max_coarse=10).summary(op)
    assert "Number of levels" in text and "Operator complexity" in text and "100" in text
