"""Checks of `nativax.distributed` on 4 emulated CPU devices, run in a fresh interpreter.

`tests/test_distributed.py` runs this file as a subprocess with
``XLA_FLAGS=--xla_force_host_platform_device_count=4`` (the test process already has a one-device
backend) and reports every check as its own test. Each check raises on failure; the output is one
JSON line ``{check name: "ok" | traceback}``.

Run directly: ``XLA_FLAGS=--xla_force_host_platform_device_count=4 python tests/distributed_worker.py``.
"""

from __future__ import annotations

import json
import os
import re
import runpy
import sys
import time
import traceback
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)
if os.environ.get("NATIVAX_STRICT", "") not in ("", "0"):  # the strict leg (see conftest.py)
    jax.config.update("jax_numpy_dtype_promotion", "strict")
    jax.config.update("jax_numpy_rank_promotion", "raise")

import jax.numpy as jnp
import lineax as lx
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from nativax import DistributedCholesky
from nativax import distributed as D
from nativax._distributed import factor as F
from nativax._distributed.checks import _resolve

ROOT = Path(__file__).resolve().parent.parent
CHECKS = {}


def check(f):
    CHECKS[f.__name__] = f
    return f


def mesh4():
    assert jax.device_count() == 4, f"expected 4 emulated devices, got {jax.device_count()}"
    return Mesh(np.array(jax.devices()), ("x",))


def spd(n, dtype=np.float64, seed=0, shift=None):
    rng = np.random.default_rng(seed)
    g = rng.standard_normal((n, n))
    if np.issubdtype(dtype, np.complexfloating):
        g = g + 1j * rng.standard_normal((n, n))
    a = g @ g.conj().T / n + (1.0 if shift is None else shift) * np.eye(n)
    return a.astype(dtype)


def shard(a, mesh):
    return jax.device_put(jnp.asarray(a), NamedSharding(mesh, P("x", None)))


def rel(x, ref):
    x, ref = np.asarray(x), np.asarray(ref)
    return float(np.linalg.norm(x - ref) / np.linalg.norm(ref))


def raises(exc, match, f, *args, **kw):
    try:
        f(*args, **kw)
    except exc as e:
        assert match in str(e), f"{exc.__name__} raised, but {match!r} not in {str(e)!r}"
        return
    raise AssertionError(f"{exc.__name__} ({match!r}) not raised")


TOL = {np.float32: 2e-4, np.complex64: 2e-4, np.float64: 1e-11, np.complex128: 1e-11}

# ------------------------------------------------------------------------------------------
# exact inverses, residuals
# ------------------------------------------------------------------------------------------


@check
def identity_and_diagonal_exact():
    mesh = mesh4()
    n = 64
    inv = D.potri(shard(np.eye(n), mesh), 8, mesh, P("x", None))
    assert np.array_equal(np.asarray(inv), np.eye(n)), "inverse of I is not exactly I"
    d = np.tile(4.0 ** np.arange(-8, 8), 4)  # powers of four: sqrt and inverse are exact
    inv, status = D.potri(shard(np.diag(d), mesh), 8, mesh, P("x", None), return_status=True)
    assert int(status) == 0
    assert np.array_equal(np.asarray(inv), np.diag(1.0 / d)), "diagonal inverse is not exact"
    assert inv.sharding.spec == P("x", None), inv.sharding


@check
def random_spd_float64_potri_potrs_potrf():
    mesh = mesh4()
    n = 64
    a = spd(n)
    aj = shard(a, mesh)
    inv, status = D.potri(aj, 8, mesh, P("x", None), return_status=True)
    assert int(status) == 0
    assert rel(inv, np.linalg.inv(a)) < 1e-12
    assert np.abs(np.asarray(inv) @ a - np.eye(n)).max() < 1e-12
    b = np.random.default_rng(1).standard_normal((n, 3))
    x, logdet, st = D.potrs(aj, b, 8, mesh, P("x", None), return_status=True, return_logdet=True)
    assert int(st) == 0
    assert np.abs(a @ np.asarray(x) - b).max() < 1e-12
    assert abs(float(logdet) - np.linalg.slogdet(a)[1]) < 1e-10
    x1 = D.potrs(aj, b[:, 0], 8, mesh, P("x", None))
    assert x1.shape == (n,) and np.abs(a @ np.asarray(x1) - b[:, 0]).max() < 1e-12
    l = np.asarray(D.potrf(aj, 8, mesh, P("x", None)))
    assert np.array_equal(np.triu(l, 1), np.zeros_like(l)), "upper triangle of L is not zero"
    assert rel(l, np.linalg.cholesky(a)) < 1e-12
    ad = shard(a, mesh)
    inv_d = D.potri(ad, 8, mesh, P("x", None), donate=True)
    assert np.array_equal(np.asarray(inv_d), np.asarray(inv))
    assert ad.is_deleted(), "donate=True did not donate the input"
    # Memory (XLA's buffer assignment, compile only): donated potri works in the input's buffer,
    # so a device holds one row shard plus O(N * tile) panels (here 10*T/N = 0.3 shard of them),
    # never a second shard-sized working copy (that regression measured >= 2.1 shards).
    n2, t2 = 128, 4
    a2 = shard(np.eye(n2), mesh)
    cfg = _resolve(a2, t2, mesh, P("x", None), True, "shard_map", "test")
    ma = F._potri_jit_donated.lower(a2, cfg).compile().memory_analysis()
    peak = (ma.argument_size_in_bytes + ma.output_size_in_bytes + ma.temp_size_in_bytes
            - ma.alias_size_in_bytes)
    shards = peak / (n2 * n2 // 4 * 8)
    assert shards < 1.75, f"donated potri peak is {shards:.2f} row shards per device"


@check
def odd_n_needs_padding():
    mesh = mesh4()
    n = 67  # global pad to 68, shards of 17 rows padded to 24 with tile 8
    a = spd(n, seed=3)
    aj = jnp.asarray(a)
    inv = D.potri(aj, 8, mesh, P("x", None))
    assert inv.shape == (n, n)
    assert rel(inv, np.linalg.inv(a)) < 1e-12
    b = np.arange(n, dtype=np.float64)
    x = D.potrs(aj, b, 8, mesh, P("x", None))
    assert np.abs(a @ np.asarray(x) - b).max() < 1e-10
    l = D.potrf(aj, 8, mesh, P("x", None))
    assert rel(l, np.linalg.cholesky(a)) < 1e-12
    # N divisible by the devices but not the shard by the tile: shard-local padding only
    a = spd(72, seed=4)  # 18-row shards are not a multiple of the tile
    raises(ValueError, "pad=False", D.potri, shard(a, mesh), 8, mesh, P("x", None), pad=False)
    raises(ValueError, "pad=False", D.potri, aj, 8, mesh, P("x", None), pad=False)


@check
def every_dtype():
    mesh = mesh4()
    n = 64
    for dtype in (np.float32, np.complex64, np.complex128):
        a = spd(n, dtype, seed=5)
        aj = shard(a, mesh)
        inv, st = D.potri(aj, 8, mesh, P("x", None), return_status=True)
        assert inv.dtype == dtype, (inv.dtype, dtype)
        assert int(st) == 0
        ref = np.linalg.inv(a.astype(np.complex128 if np.iscomplexobj(a) else np.float64))
        assert rel(inv, ref) < TOL[dtype], (dtype, rel(inv, ref))
        ih = np.asarray(inv)
        assert np.abs(ih - ih.conj().T).max() < TOL[dtype], "inverse not Hermitian"
    a = spd(n, np.complex128, seed=6)
    b = (np.arange(n) + 1j * np.ones(n)).astype(np.complex128)
    x = D.potrs(shard(a, mesh), b, 8, mesh, P("x", None))
    assert x.dtype == np.complex128
    assert np.abs(a @ np.asarray(x) - b).max() / np.abs(b).max() < 1e-12
    l = np.asarray(D.potrf(shard(a, mesh), 8, mesh, P("x", None)))
    assert rel(l @ l.conj().T, a) < 1e-12
    assert rel(l, np.linalg.cholesky(a)) < 1e-12


# ------------------------------------------------------------------------------------------
# failure contract
# ------------------------------------------------------------------------------------------


@check
def not_positive_definite():
    mesh = mesh4()
    n = 64
    a = spd(n, seed=7)
    a[40, 40] = -100.0  # breaks down in the middle of the factorization
    aj = shard(a, mesh)
    inv, st = D.potri(aj, 8, mesh, P("x", None), return_status=True)
    assert int(st) != 0
    assert np.all(np.isnan(np.asarray(inv)))
    x, st = D.potrs(aj, np.ones(n), 8, mesh, P("x", None), return_status=True)
    assert int(st) != 0 and np.all(np.isnan(np.asarray(x)))
    l, st = D.potrf(aj, 8, mesh, P("x", None), return_status=True)
    assert int(st) != 0 and np.all(np.isnan(np.asarray(l)))
    # a good matrix after a bad one: the status is per call
    _, st = D.potri(shard(spd(n, seed=7), mesh), 8, mesh, P("x", None), return_status=True)
    assert int(st) == 0
    # the lineax solver: a clear error by default (from every device, whatever `throw` is) ...
    op = lx.MatrixLinearOperator(aj, lx.positive_semidefinite_tag)
    for throw in (True, False):
        try:
            lx.linear_solve(op, jnp.ones(n), DistributedCholesky(mesh=mesh, tile=8), throw=throw)
        except Exception as e:  # JaxRuntimeError wrapping NotPositiveDefiniteError
            assert "NotPositiveDefiniteError" in str(e) and "not positive definite" in str(e), e
        else:
            raise AssertionError("no error from lineax.linear_solve on a non-PD matrix")
    # ... and RESULTS.singular with NaN when asked for
    solver = DistributedCholesky(mesh=mesh, tile=8, raise_on_failure=False)
    sol = lx.linear_solve(op, jnp.ones(n), solver, throw=False)
    assert sol.result == lx.RESULTS.singular, sol.result
    assert np.all(np.isnan(np.asarray(sol.value)))


# ------------------------------------------------------------------------------------------
# argument validation
# ------------------------------------------------------------------------------------------


@check
def validation_errors_name_the_argument():
    mesh = mesh4()
    a = shard(spd(64), mesh)
    raises(TypeError, "`tile`", D.potri, a, 2.5, mesh)
    raises(ValueError, "`tile`", D.potri, a, 0, mesh)
    raises(TypeError, "`mesh`", D.potri, a, 8, "x")
    raises(TypeError, "`in_specs`", D.potri, a, 8, mesh, "x")
    raises(ValueError, "`in_specs`", D.potri, a, 8, mesh, P(None, "x"))
    raises(ValueError, "`in_specs`", D.potri, a, 8, mesh, P("y", None))
    raises(ValueError, "`in_specs`", D.potri, a, 8, mesh, [P("x", None), P("x", None)])
    raises(ValueError, "`a`", D.potri, jnp.ones((4, 8)), 8, mesh)
    raises(TypeError, "`a`", D.potri, jnp.ones((8, 8), jnp.int32), 8, mesh)
    raises(TypeError, "`a`", D.potri, [[1.0]], 8, mesh)
    raises(TypeError, "`pad`", D.potri, a, 8, mesh, pad=1)
    raises(ValueError, "`engine`", D.potri, a, 8, mesh, engine="magma")
    raises(RuntimeError, "engine='cusolvermg' is not available", D.potri, a, 8, mesh,
           engine="cusolvermg")
    raises(ValueError, "`b`", D.potrs, a, jnp.ones(63), 8, mesh)
    raises(ValueError, "`uplo`", D.symmetrize, a, mesh, uplo="X")
    mesh2 = Mesh(np.array(jax.devices()).reshape(2, 2), ("x", "y"))
    raises(ValueError, "`in_specs` is required", D.potri, jnp.asarray(spd(64)), 8, mesh2)
    raises(ValueError, "DistributedCholesky may only be used",
           lx.linear_solve, lx.MatrixLinearOperator(a), jnp.ones(64), DistributedCholesky(mesh=mesh))


# ------------------------------------------------------------------------------------------
# inside the user's shard_map, symmetrize, 2-D meshes
# ------------------------------------------------------------------------------------------


@check
def shardmap_ctx_and_symmetrize():
    mesh = mesh4()
    n = 64
    a = spd(n, seed=8)
    b = np.random.default_rng(2).standard_normal(n)

    def body(al, bl):
        inv, st = D.potri_shardmap_ctx(al, 8, "x")
        x, st2 = D.potrs_shardmap_ctx(al, bl, 8, "x")
        return inv, x, st + st2

    f = jax.jit(jax.shard_map(body, mesh=mesh, in_specs=(P("x", None), P()),
                              out_specs=(P("x", None), P(), P()), check_vma=False))
    inv, x, st = f(shard(a, mesh), jnp.asarray(b))
    assert int(st) == 0
    assert rel(inv, np.linalg.inv(a)) < 1e-12
    assert np.abs(a @ np.asarray(x) - b).max() < 1e-12
    raises(ValueError, "`axis_name`", jax.shard_map(
        lambda al: D.potri_shardmap_ctx(al, 8, "nope")[0], mesh=mesh, in_specs=P("x", None),
        out_specs=P("x", None)), shard(a, mesh))
    c = np.asarray(spd(n, np.complex128, seed=9))
    up = np.triu(c)
    s = np.asarray(D.symmetrize(shard(up, mesh), mesh, uplo="U"))
    assert np.array_equal(s, np.triu(c) + np.triu(c, 1).conj().T)
    # rows sharded over one axis of a 2-D mesh
    mesh2 = Mesh(np.array(jax.devices()).reshape(2, 2), ("x", "y"))
    inv = D.potri(jnp.asarray(a), 8, mesh2, P(("x", "y"), None))
    assert rel(inv, np.linalg.inv(a)) < 1e-12


# ------------------------------------------------------------------------------------------
# lineax solver, gradients
# ------------------------------------------------------------------------------------------


@check
def lineax_solver():
    mesh = mesh4()
    n = 64
    a = spd(n, seed=10)
    aj = shard(a, mesh)
    b = np.random.default_rng(3).standard_normal(n)
    solver = DistributedCholesky(mesh=mesh, tile=8)
    op = lx.MatrixLinearOperator(aj, lx.positive_semidefinite_tag)
    sol = lx.linear_solve(op, jnp.asarray(b), solver)
    assert sol.result == lx.RESULTS.successful
    assert np.abs(a @ np.asarray(sol.value) - b).max() < 1e-12
    # negative definite, under jit
    nop = lx.MatrixLinearOperator(-aj, lx.negative_semidefinite_tag)
    x = jax.jit(lambda o, v: lx.linear_solve(o, v, solver).value)(nop, jnp.asarray(b))
    assert np.abs(-a @ np.asarray(x) - b).max() < 1e-12
    # one factorization (init) reused for several right-hand sides
    state = solver.init(op, {})
    for k in range(2):
        v = np.roll(b, k)
        xv, res, _ = solver.compute(state, jnp.asarray(v), {})
        assert np.abs(a @ np.asarray(xv) - v).max() < 1e-12
    # complex Hermitian: the transpose solve conjugates
    c = spd(n, np.complex128, seed=11)
    cop = lx.MatrixLinearOperator(shard(c, mesh), lx.positive_semidefinite_tag)
    bc = (b + 1j * np.roll(b, 1)).astype(np.complex128)
    cs = solver.init(cop, {})
    xc = solver.compute(cs, jnp.asarray(bc), {})[0]
    assert np.abs(c @ np.asarray(xc) - bc).max() < 1e-12
    ts, _ = solver.transpose(cs, {})
    xt = solver.compute(ts, jnp.asarray(bc), {})[0]
    assert np.abs(c.T @ np.asarray(xt) - bc).max() < 1e-12


@check
def explicit_axes_mesh():
    """JAX's default `jax.make_mesh` (Explicit axes): lineax's structure check needs the vector's sharding
    in the operator's structures (`ShardedMatrixOperator`); solves, jit and gradients as on Auto meshes."""
    mesh = jax.make_mesh((4,), ("x",))
    assert "Explicit" in str(mesh.axis_types), mesh.axis_types
    n = 64
    a = spd(n, seed=13)
    b = np.random.default_rng(5).standard_normal(n)
    aj = shard(a, mesh)
    bj = jax.device_put(jnp.asarray(b), NamedSharding(mesh, P("x")))
    solver = DistributedCholesky(tile=8)  # mesh and in_specs from the matrix's sharding (also under jit)
    # lineax's own MatrixLinearOperator has sharding-free structures: lineax rejects the vector
    raises(ValueError, "Vector and operator structures do not match", lx.linear_solve,
           lx.MatrixLinearOperator(aj, lx.positive_semidefinite_tag), bj, solver)
    op = D.ShardedMatrixOperator(aj, lx.positive_semidefinite_tag)
    assert isinstance(op, lx.MatrixLinearOperator)
    assert op.out_structure().sharding.spec == P("x") and op.in_structure() == op.out_structure()
    sol = lx.linear_solve(op, bj, solver)
    assert sol.result == lx.RESULTS.successful
    assert np.abs(a @ np.asarray(sol.value) - b).max() < 1e-12
    assert sol.value.sharding.spec == P("x"), sol.value.sharding  # laid out like the right-hand side

    def loss(m, v):  # under jit: the solver finds the mesh in the traced matrix's type
        x = lx.linear_solve(D.ShardedMatrixOperator(m, lx.positive_semidefinite_tag), v, solver).value
        return jnp.sum(jnp.sin(x))

    ga, gb = (np.asarray(g) for g in jax.jit(jax.grad(loss, argnums=(0, 1)))(aj, bj))
    ra, rb = (np.asarray(g) for g in jax.grad(lambda m, v: jnp.sum(jnp.sin(jnp.linalg.solve(m, v))),
                                              argnums=(0, 1))(jnp.asarray(a), jnp.asarray(b)))
    assert rel(gb, rb) < 1e-10 and rel(ga + ga.T, ra + ra.T) < 1e-10
    # complex Hermitian, and a replicated right-hand side (its own sharding, P(None), in the structure)
    c = spd(n, np.complex128, seed=14)
    cj = jax.device_put(jnp.asarray(c), NamedSharding(mesh, P()))
    bc = jax.device_put(jnp.asarray(b + 1j), NamedSharding(mesh, P()))
    xc = lx.linear_solve(D.ShardedMatrixOperator(cj, lx.positive_semidefinite_tag), bc, solver).value
    assert np.abs(c @ np.asarray(xc) - np.asarray(bc)).max() < 1e-12
    # potri takes Explicit-mesh arrays directly, also under jit (mesh and spec from the traced type)
    inv = jax.jit(lambda m: D.potri(m, 8))(aj)
    assert rel(inv, np.linalg.inv(a)) < 1e-12 and inv.sharding.spec == P("x", None)
    # the operator is lineax's MatrixLinearOperator on Auto meshes and unsharded matrices
    plain = D.ShardedMatrixOperator(jnp.asarray(a))
    assert plain.out_structure() == lx.MatrixLinearOperator(jnp.asarray(a)).out_structure()


@check
def gradients_vs_jnp_linalg():
    mesh = mesh4()
    n = 64
    a = jnp.asarray(spd(n, seed=12))
    rng = np.random.default_rng(4)
    b = jnp.asarray(rng.standard_normal(n))
    w = jnp.asarray(rng.standard_normal((n, n)))
    da = jnp.asarray(rng.standard_normal((n, n)))
    da = da + da.T

    # inverse: d inv = -inv dA inv
    inv_ref = jnp.linalg.inv(a)
    _, t = jax.jvp(lambda m: D.potri(m, 8, mesh, P("x", None)), (a,), (da,))
    assert rel(t, -inv_ref @ da @ inv_ref) < 1e-11
    g = jax.grad(lambda m: jnp.sum(w * D.potri(m, 8, mesh, P("x", None))))(a)
    g_ref = jax.grad(lambda m: jnp.sum(w * jnp.linalg.inv(m)))(a)
    assert rel(g, g_ref) < 1e-11

    # solve, and log-determinant
    def f(m, v):
        x, ld = D.potrs(m, v, 8, mesh, P("x", None), return_logdet=True)
        return jnp.sum(jnp.sin(x)) + 0.1 * ld

    def f_ref(m, v):
        return jnp.sum(jnp.sin(jnp.linalg.solve(m, v))) + 0.1 * jnp.linalg.slogdet(m)[1]

    ga, gb = jax.grad(f, argnums=(0, 1))(a, b)
    ra, rb = jax.grad(f_ref, argnums=(0, 1))(a, b)
    assert rel(ga, ra) < 1e-10 and rel(gb, rb) < 1e-10

    # through lineax.linear_solve with DistributedCholesky
    solver = DistributedCholesky(mesh=mesh, tile=8)

    def h(m, v):
        op = lx.MatrixLinearOperator(m, lx.positive_semidefinite_tag)
        return jnp.sum(jnp.sin(lx.linear_solve(op, v, solver).value))

    ga, gb = jax.grad(h, argnums=(0, 1))(a, b)
    ra, rb = jax.grad(lambda m, v: jnp.sum(jnp.sin(jnp.linalg.solve(m, v))), argnums=(0, 1))(a, b)
    assert rel(gb, rb) < 1e-10, rel(gb, rb)
    # lineax differentiates wrt the symmetric matrix: compare symmetric parts
    assert rel(ga + ga.T, ra + ra.T) < 1e-10, rel(ga + ga.T, ra + ra.T)


# ------------------------------------------------------------------------------------------
# example and docs
# ------------------------------------------------------------------------------------------


@check
def gp_example_small():
    main = runpy.run_path(str(ROOT / "examples" / "gp_distributed.py"), run_name="gp_example")["main"]
    out = main(small=True, steps=2)
    assert out["ndev"] == 4
    assert out["mean_err"] < 1e-10, out["mean_err"]
    assert out["lml_err"] < 1e-8, out["lml_err"]
    assert out["grad_err"] < 1e-8, out["grad_err"]
    assert out["test_rmse"] < 0.2, out["test_rmse"]


@check
def docs_page_examples():
    """The python blocks of docs/distributed.md run top to bottom (they assert their results)."""
    text = (ROOT / "docs" / "distributed.md").read_text()
    blocks = re.findall(r"^```python\n(.*?)^```$", text, flags=re.S | re.M)
    assert len(blocks) >= 4, len(blocks)
    exec(compile("\n\n".join(blocks), "docs/distributed.md", "exec"), {"__name__": "docs"})


def main(names):
    results = {}
    for name in names or CHECKS:
        t0 = time.perf_counter()
        try:
            CHECKS[name]()
            results[name] = "ok"
        except BaseException:
            results[name] = traceback.format_exc()[-4000:]
        print(f"{name}: {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    print("NATIVAX_DIST_RESULTS " + json.dumps(results))
    return all(v == "ok" for v in results.values())


if __name__ == "__main__":
    assert "xla_force_host_platform_device_count=4" in os.environ.get("XLA_FLAGS", "")
    sys.exit(0 if main(sys.argv[1:]) else 1)
