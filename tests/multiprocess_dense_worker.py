"""Checks of `nativax.distributed` on several processes (``jax.distributed``), run by the harness.

`tests/test_multiprocess_dense.py` runs `dense_checks` on 2 processes x 2 CPU devices (one 4-device mesh
spanning both processes) through `tests/multiprocess.py`; every check runs on every process and reports
``{"ok": True, ...numbers}`` or ``{"ok": False, "error": traceback}``, so one launch (one JAX start-up and
one set of compiles) covers all of them. The matrices are built from the same seed on every process; each
process contributes only its own rows (`jax.make_array_from_callback`), and results are read back either
from the process's own shards (``addressable_shards``) or gathered (``process_allgather``).
"""

from __future__ import annotations

import re
import textwrap
import time
import traceback
from pathlib import Path

import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import AxisType, NamedSharding
from jax.sharding import PartitionSpec as P

from nativax import DistributedCholesky
from nativax import distributed as D

N, TILE = 32, 4
ROOT = Path(__file__).resolve().parent.parent
CHECKS = {}


def check(f):
    CHECKS[f.__name__] = f
    return f


def auto_mesh():
    return jax.make_mesh((jax.device_count(),), ("x",), axis_types=(AxisType.Auto,))


def explicit_mesh():
    return jax.make_mesh((jax.device_count(),), ("x",))  # JAX's default axis types: Explicit


def spd(n, dtype, seed):
    rng = np.random.default_rng(seed)
    g = rng.standard_normal((n, n))
    if np.issubdtype(dtype, np.complexfloating):
        g = g + 1j * rng.standard_normal((n, n))
    return (g @ g.conj().T / n + np.eye(n)).astype(dtype)


def rhs(n, dtype, seed):
    rng = np.random.default_rng(seed)
    b = rng.standard_normal(n)
    if np.issubdtype(dtype, np.complexfloating):
        b = b + 1j * rng.standard_normal(n)
    return b.astype(dtype)


def spanning(host, mesh, spec):
    """A process-spanning array: every process supplies only the blocks its own devices hold."""
    return jax.make_array_from_callback(host.shape, NamedSharding(mesh, spec), lambda idx: host[idx])


def gather(x):
    return np.asarray(multihost_utils.process_allgather(x, tiled=True))


def rel(x, ref):
    return float(np.linalg.norm(np.asarray(x) - ref) / np.linalg.norm(ref))


def local_rows_match(x, ref):
    """Each of this process's shards holds exactly its rows of `ref` (read without any communication)."""
    worst = 0.0
    for shard in x.addressable_shards:
        worst = max(worst, rel(shard.data, ref[shard.index]))
    return worst


# ---------------------------------------------------------------------------------------------------------------


def potri_potrs(dtype, seed):
    mesh = auto_mesh()
    a, b = spd(N, dtype, seed), rhs(N, dtype, seed + 1)
    aj = spanning(a, mesh, P("x", None))
    inv, st = D.potri(aj, TILE, mesh, P("x", None), return_status=True)
    x, logdet, st2 = D.potrs(aj, spanning(b, mesh, P()), TILE, mesh, P("x", None), return_status=True,
                             return_logdet=True)
    inv_ref = np.linalg.inv(a)
    assert inv.sharding.spec == P("x", None) and not inv.is_fully_addressable
    return {
        "status": [int(st), int(st2)],
        "inv_err": rel(gather(inv), inv_ref),
        "inv_local_rows_err": local_rows_match(inv, inv_ref),
        "local_shards": len(inv.addressable_shards),
        "solve_err": rel(gather(x), np.linalg.solve(a, b)),
        "logdet_err": abs(float(gather(logdet)) - np.linalg.slogdet(a)[1]),
    }


@check
def potri_potrs_float64():
    return potri_potrs(np.float64, 0)


@check
def potri_potrs_complex128():
    return potri_potrs(np.complex128, 10)


def solve_under_jit(mesh, operator_cls, b_spec, dtype, seed):
    a, b = spd(N, dtype, seed), rhs(N, dtype, seed + 1)
    solver = DistributedCholesky(mesh=mesh, tile=TILE)

    @jax.jit
    def solve(m, v):
        sol = lx.linear_solve(operator_cls(m, lx.positive_semidefinite_tag), v, solver)
        return sol.value, sol.result == lx.RESULTS.successful

    x, ok = solve(spanning(a, mesh, P("x", None)), spanning(b, mesh, b_spec))
    return {"ok_result": bool(gather(ok)), "solve_err": rel(gather(x), np.linalg.solve(a, b)),
            "x_spec": str(x.sharding.spec)}


@check
def lineax_jit_auto_mesh():
    out = {}
    for name, dtype in (("f64", np.float64), ("c128", np.complex128)):
        r = solve_under_jit(auto_mesh(), lx.MatrixLinearOperator, P(), dtype, 20)
        out.update({f"{k}_{name}": v for k, v in r.items()})
    return out


@check
def lineax_jit_explicit_mesh():
    # jax.make_mesh's default (Explicit) axes: the operator must report the vector's sharding
    r = solve_under_jit(explicit_mesh(), D.ShardedMatrixOperator, P("x"), np.float64, 30)
    assert "x" in r["x_spec"], r  # the solution is laid out like the right-hand side
    return r


def grads(mesh, operator_cls, b_spec, dtype, seed):
    a, b = spd(N, dtype, seed), rhs(N, dtype, seed + 1)
    w = rhs(N, np.float64, seed + 2)
    solver = DistributedCholesky(mesh=mesh, tile=TILE)

    def loss(m, v):
        x = lx.linear_solve(operator_cls(m, lx.positive_semidefinite_tag), v, solver).value
        return jnp.sum(w * jnp.abs(x) ** 2)

    def loss_ref(m, v):
        return jnp.sum(w * jnp.abs(jnp.linalg.solve(m, v)) ** 2)

    ga, gb = jax.jit(jax.grad(loss, argnums=(0, 1)))(spanning(a, mesh, P("x", None)), spanning(b, mesh, b_spec))
    with jax.default_device(jax.local_devices(backend="cpu")[0]):
        ra, rb = jax.grad(loss_ref, argnums=(0, 1))(jnp.asarray(a), jnp.asarray(b))
    ga, ra = gather(ga), np.asarray(ra)
    # lineax differentiates with respect to a Hermitian matrix: compare the Hermitian parts
    herm = lambda g: g + g.conj().T  # noqa: E731
    return {"grad_a_err": rel(herm(ga), herm(ra)), "grad_b_err": rel(gather(gb), np.asarray(rb))}


@check
def grad_matrix_and_rhs():
    out = {}
    for name, dtype in (("f64", np.float64), ("c128", np.complex128)):
        r = grads(auto_mesh(), lx.MatrixLinearOperator, P(), dtype, 40)
        out.update({f"{k}_{name}": v for k, v in r.items()})
    r = grads(explicit_mesh(), D.ShardedMatrixOperator, P("x"), np.float64, 50)
    out.update({f"{k}_explicit": v for k, v in r.items()})
    return out


@check
def shard_batch_klu():
    """`nativax.scaleout.shard_batch`: a batch of sparse KLU solves over the process-spanning mesh, each
    device solving its own slice."""
    import scipy.sparse as sp

    from nativax import klu, scaleout

    mesh = jax.make_mesh((jax.device_count(),), ("batch",), axis_types=(AxisType.Auto,))
    n, batch = 40, 2 * jax.device_count()
    rng = np.random.default_rng(70)
    a = (sp.random(n, n, density=0.1, random_state=rng) + sp.diags(np.full(n, 4.0))).tocoo()
    rows, cols = a.row.astype(np.int32), a.col.astype(np.int32)
    values = np.stack([a.data * (1 + 0.1 * k) for k in range(batch)])
    b = rng.standard_normal((batch, n))
    solve = jax.jit(scaleout.shard_batch(jax.vmap(lambda v, bb: klu.solve(rows, cols, v, bb)), mesh, "batch"))
    x = solve(spanning(values, mesh, P("batch")), spanning(b, mesh, P("batch")))
    ref = np.stack([np.linalg.solve(sp.csr_matrix((values[k], (rows, cols)), shape=(n, n)).toarray(), b[k])
                    for k in range(batch)])
    return {"err": rel(gather(x), ref), "local_rows_err": local_rows_match(x, ref),
            "local_shards": len(x.addressable_shards)}


@check
def docs_page_examples():
    """The ```python blocks of docs/scaling-out.md run top to bottom on every process (they assert)."""
    text = (ROOT / "docs" / "scaling-out.md").read_text()
    blocks = [textwrap.dedent(m.group(2)) for m in
              re.finditer(r"^( *)```python\n(.*?)^\1```$", text, flags=re.S | re.M)]
    assert len(blocks) >= 5, len(blocks)
    exec(compile("\n\n".join(blocks), "docs/scaling-out.md", "exec"), {"__name__": "docs"})
    return {"blocks": len(blocks)}


@check
def not_positive_definite():
    """Every process sees the same failure, and none is left waiting in a collective."""
    mesh = auto_mesh()
    a = spd(N, np.float64, 60)
    a[20, 20] = -100.0  # breaks down inside process 1's rows
    aj = spanning(a, mesh, P("x", None))
    bj = spanning(np.ones(N), mesh, P())
    inv, st = D.potri(aj, TILE, mesh, P("x", None), return_status=True)
    x, st2 = D.potrs(aj, bj, TILE, mesh, P("x", None), return_status=True)
    out = {"status": [int(st), int(st2)], "inv_all_nan": bool(np.isnan(gather(inv)).all()),
           "x_all_nan": bool(np.isnan(gather(x)).all())}
    op = lx.MatrixLinearOperator(aj, lx.positive_semidefinite_tag)
    try:  # default: NotPositiveDefiniteError raised on every device (through JAX's runtime error)
        lx.linear_solve(op, bj, DistributedCholesky(mesh=mesh, tile=TILE))
        out["raised"] = None
    except Exception as e:  # noqa: BLE001
        out["raised"] = "NotPositiveDefiniteError" if "NotPositiveDefiniteError" in str(e) else repr(e)[:300]
    quiet = DistributedCholesky(mesh=mesh, tile=TILE, raise_on_failure=False)
    sol = jax.jit(lambda m, v: lx.linear_solve(lx.MatrixLinearOperator(m, lx.positive_semidefinite_tag), v,
                                               quiet, throw=False))(aj, bj)
    out["singular"] = bool(gather(sol.result == lx.RESULTS.singular))
    out["value_all_nan"] = bool(np.isnan(gather(sol.value)).all())
    # a good matrix right after: the processes are still in step
    _, st3 = D.potri(spanning(spd(N, np.float64, 61), mesh, P("x", None)), TILE, mesh, P("x", None),
                     return_status=True)
    out["status_after"] = int(st3)
    return out


def dense_checks(rank, nprocs, names=None):
    """Run the named checks (default: all) on this process; one result dict per check."""
    assert jax.process_count() == nprocs and jax.process_index() == rank
    results = {"devices": jax.device_count(), "local_devices": jax.local_device_count()}
    for name in names or CHECKS:
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            results[name] = {"ok": True, **CHECKS[name]()}
        except Exception:  # noqa: BLE001 (reported, the other checks still run)
            results[name] = {"ok": False, "error": traceback.format_exc()[-4000:]}
        results[name]["seconds"] = time.perf_counter() - t0
        results[name]["cpu_seconds"] = time.process_time() - c0
    return results
