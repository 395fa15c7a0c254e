"""Factor/solve/inverse core of `nativax.distributed`: engine dispatch, padding, custom JVPs."""

from __future__ import annotations

import functools as ft
from collections.abc import Sequence

import jax
import jax.numpy as jnp
from jax import lax
from jax.sharding import Mesh
from jax.sharding import PartitionSpec as P

from .._core.packing import promote
from . import kernels as K
from .checks import (
    _Cfg,
    _constrain,
    _ctx_layout,
    _float0_zero,
    _global_pad,
    _global_pad_zero,
    _global_unpad,
    _normalise_spec,
    _resolve,
    _smap,
)
from .engines import DenseSPDEngine

__all__ = [
    "NotPositiveDefiniteError",
    "potrf",
    "potri",
    "potri_shardmap_ctx",
    "potrs",
    "potrs_shardmap_ctx",
    "symmetrize",
]




# --------------------------------------------------------------------------------------------
# shard-local pipelines (shared by the public functions and the *_shardmap_ctx variants)
# --------------------------------------------------------------------------------------------


def _local_factor(a_loc, lay: K.Layout, engine: DenseSPDEngine):
    """(m0, n) shard -> (padded factor (m, Np), info). Internal permuted tile order."""
    return engine.factor(K.pad_local(a_loc, lay), lay)


def _local_solve(x, b, lay: K.Layout, engine: DenseSPDEngine):
    """Solve with a factor from `_local_factor`; ``b`` replicated (n, r) -> (n, r)."""
    return K.unpad_rhs(engine.solve(x, K.pad_rhs(b, lay), lay), lay)


def _local_inverse_from_factor(x, lay: K.Layout):
    return K.lauum_local(K.trtri_local(x, lay), lay)


def _local_potri(a_loc, lay: K.Layout, engine: DenseSPDEngine):
    z, info = engine.inverse(K.pad_local(a_loc, lay), lay)
    return K.nan_if(K.unpad_local(z, lay), info), info


def _local_potrf(a_loc, lay: K.Layout, engine: DenseSPDEngine):
    lay = lay.replace(permuted=False)
    x = K.exchange_row_tiles(K.pad_local(a_loc, lay), lay, to_cyclic=True)
    x, info = engine.factor_true_order(x, lay)
    return K.nan_if(K.unpad_local(x, lay), info), info


# --------------------------------------------------------------------------------------------
# potri
# --------------------------------------------------------------------------------------------


@ft.partial(jax.custom_jvp, nondiff_argnums=(1,))
def _potri_core(a, cfg: _Cfg):
    lay = cfg.layout()
    f = _smap(lambda al: _local_potri(al, lay, cfg.engine), cfg.mesh, (cfg.spec,), (cfg.spec, P()))
    return f(a)


@_potri_core.defjvp
def _potri_core_jvp(cfg: _Cfg, primals, tangents):
    (a,), (da,) = primals, tangents
    inv, info = _potri_core(a, cfg)
    mm = _smap(
        lambda x, y: K.ring_matmul_local(x, y, cfg.ndev, cfg.axis),
        cfg.mesh,
        (cfg.spec, cfg.spec),
        cfg.spec,
    )
    dinv = -mm(inv, mm(da, inv))  # d(A^{-1}) = -A^{-1} dA A^{-1}
    return (inv, info), (dinv, _float0_zero())


def _jit_padded(core):
    """Jitted (plain, input-donating) versions of `a -> core(a)` on the globally padded matrix, unpadded after."""

    def impl(a, cfg: _Cfg):
        a = _constrain(_global_pad(a, cfg), cfg, cfg.spec)
        out, info = core(a, cfg)
        return _global_unpad(out, cfg), info

    return jax.jit(impl, static_argnums=1), jax.jit(impl, static_argnums=1, donate_argnums=0)


_potri_jit, _potri_jit_donated = _jit_padded(_potri_core)


def potri(
    a,
    tile: int = 256,
    mesh: Mesh | None = None,
    in_specs: P | Sequence[P] | None = None,
    return_status: bool = False,
    pad: bool = True,
    *,
    engine: str = "auto",
    donate: bool = False,
):
    """Inverse of a Hermitian positive definite matrix, row-sharded over a mesh axis.

    **Arguments:**

    - `a`: ``(N, N)`` float32/float64/complex64/complex128 array, sharded (or to be sharded)
      ``P(axis, None)``. Only Hermitian positive definite input is meaningful.
    - `tile`: tile width ``T_A`` of the 1-D block-cyclic distribution (clamped to ``N/ndev``).
      Each shard is padded to a multiple of it when needed.
    - `mesh`: the `jax.sharding.Mesh`; default: the mesh of ``a``'s sharding, else a 1-D mesh
      over all devices.
    - `in_specs`: ``P(axis, None)`` (or a 1-element list/tuple of it); default: from ``a``'s
      sharding or the single axis of `mesh`.
    - `return_status`: also return the int32 status (0: success; nonzero: not positive definite,
      and the inverse is NaN).
    - `pad`: allow padding (see the module docs); ``False`` raises instead of copying.
    - `engine`: ``"auto"``, ``"shard_map"`` or ``"cusolvermg"`` (unverified, see module docs).
    - `donate`: donate ``a``'s buffers to the result (``a`` is deleted). Measured peak per
      device (XLA buffer assignment, 4 CPU devices): one shard (the input buffer, factored,
      inverted and returned in place) plus about ``2.5 * N * tile`` elements of panels;
      without donation two shards (input and result) plus the same panels. Only effective
      when ``N`` is a multiple of the number of devices and no padding is needed (else a
      padded copy is made anyway).

    **Returns:** the full Hermitian inverse, row-sharded like the input (and the status).

    Differentiable (forward and reverse): ``d(A^{-1}) = -A^{-1} dA A^{-1}``, computed with
    distributed ring matrix products (no gather of a whole matrix).
    """
    cfg = _resolve(a, tile, mesh, in_specs, pad, engine, "potri")
    inv, info = (_potri_jit_donated if donate else _potri_jit)(a, cfg)
    return (inv, info) if return_status else inv


def potri_shardmap_ctx(a, tile: int, axis_name, pad: bool = True, *, engine: str = "shard_map"):
    """`potri` for use *inside* your own `jax.shard_map` (no jit, no resharding).

    ``a`` is the local ``(N/ndev, N)`` row block of the matrix, rows sharded over `axis_name`
    (a mesh axis name, or a tuple of them). Returns ``(local rows of A^{-1}, status)``; status
    is replicated. Unlike the cuSOLVERMg-era reference this returns the *full* inverse (no
    symmetrize step needed). Not reverse-mode differentiable (use `potri` for gradients).
    """
    lay, eng = _ctx_layout(a, tile, axis_name, pad, engine, "potri_shardmap_ctx")
    return _local_potri(a, lay, eng)



# --------------------------------------------------------------------------------------------
# potrf
# --------------------------------------------------------------------------------------------


@ft.partial(jax.custom_jvp, nondiff_argnums=(1,))
def _potrf_core(a, cfg: _Cfg):
    lay = cfg.layout(permuted=False)
    f = _smap(lambda al: _local_potrf(al, lay, cfg.engine), cfg.mesh, (cfg.spec,), (cfg.spec, P()))
    return f(a)


@_potrf_core.defjvp
def _potrf_core_jvp(cfg, primals, tangents):
    raise NotImplementedError(
        "nativax.distributed.potrf is not differentiable; differentiate potrs/potri or "
        "lineax.linear_solve with DistributedCholesky instead."
    )


_potrf_jit, _potrf_jit_donated = _jit_padded(_potrf_core)


def potrf(
    a,
    tile: int = 256,
    mesh: Mesh | None = None,
    in_specs: P | Sequence[P] | None = None,
    return_status: bool = False,
    pad: bool = True,
    *,
    engine: str = "auto",
    donate: bool = False,
):
    """Lower Cholesky factor ``L`` (``A = L L^H``) of a row-sharded Hermitian PD matrix.

    Same arguments as `potri` (``donate`` saves the input shard; the row-tile exchanges still
    use about three shard-sized work buffers per device). The factor is returned row-sharded like ``a`` with exact zeros
    above the diagonal. Row tiles are exchanged into a block-cyclic distribution for the
    factorization and back (two rounds of `ppermute` exchanges of one shard each; skipped when
    ``N/ndev <= tile``). Not differentiable.
    """
    cfg = _resolve(a, tile, mesh, in_specs, pad, engine, "potrf")
    l, info = (_potrf_jit_donated if donate else _potrf_jit)(a, cfg)
    return (l, info) if return_status else l


# --------------------------------------------------------------------------------------------
# factor / solve (shared by potrs and DistributedCholesky)
# --------------------------------------------------------------------------------------------


class NotPositiveDefiniteError(ValueError):
    """Raised (from every device at once) by `DistributedCholesky(raise_on_failure=True)`."""


def _raise_not_pd(info):
    if int(info) != 0:
        raise NotPositiveDefiniteError(
            "DistributedCholesky: the matrix is not positive definite: the distributed Cholesky "
            f"factorization broke down at diagonal tile {int(info) - 1} (internal block-cyclic "
            "order). Use DistributedCholesky(raise_on_failure=False) with "
            "lineax.linear_solve(..., throw=False) to get lineax.RESULTS.singular instead."
        )


@ft.partial(jax.jit, static_argnums=(1, 2))
def _factor_jit(a, cfg: _Cfg, raise_on_failure: bool = False):
    """Padded internal factor ``(Np, Np)`` (row-sharded) and status."""
    a = _constrain(_global_pad(a, cfg), cfg, cfg.spec)
    lay = cfg.layout()

    def loc(al):
        x, info = _local_factor(al, lay, cfg.engine)
        if raise_on_failure:
            # on every device at once, so no device is left waiting in a collective
            jax.debug.callback(_raise_not_pd, info)
        return x, info

    return _smap(loc, cfg.mesh, (cfg.spec,), (cfg.spec, P()))(a)


def _solve_with_factor(x, b, cfg: _Cfg):
    """(Np, Np) factor, (n, r) rhs -> (n, r) solution (inside jit)."""
    lay = cfg.layout()
    if cfg.nd != cfg.n:
        b = jnp.pad(b, ((0, cfg.nd - cfg.n), (0, 0)))
    b = _constrain(b, cfg, P())
    # A no-op on the factor `_factor_jit` made; restores its sharding where a caller's tracing dropped it
    # from the type (lineax evaluates a solver's `compute` with sharding-free avals).
    x = _constrain(x, cfg, cfg.spec)
    f = _smap(lambda xl, bl: _local_solve(xl, bl, lay, cfg.engine), cfg.mesh, (cfg.spec, P()), P())
    return f(x, b)[: cfg.n]


def _logdet_with_factor(x, cfg: _Cfg):
    lay = cfg.layout()
    f = _smap(lambda xl: cfg.engine.logdet(xl, lay), cfg.mesh, (cfg.spec,), P())
    return f(x)


def _trace_inv_da(x, da, cfg: _Cfg):
    """``tr(A^{-1} dA)`` from the factor (costs one distributed inverse)."""
    lay = cfg.layout()
    if not cfg.engine.differentiable_logdet:
        raise NotImplementedError(
            f"differentiating the log-determinant is not implemented for engine={cfg.engine.name!r}; "
            "use engine='shard_map'"
        )

    def loc(xl, dal):
        z = K.unpad_local(_local_inverse_from_factor(xl, lay), lay)
        return lax.psum(jnp.real(jnp.sum(jnp.conj(z) * dal)), lay.axis)

    da = _constrain(_global_pad_zero(da, cfg), cfg, cfg.spec)
    return _smap(loc, cfg.mesh, (cfg.spec, cfg.spec), P())(x, da)


def _matvec_rows(da, x, cfg: _Cfg):
    """``dA @ x`` for row-sharded dA and replicated x -> replicated."""
    da = _constrain(_global_pad_zero(da, cfg), cfg, cfg.spec)
    xp = jnp.pad(x, ((0, cfg.nd - cfg.n), (0, 0))) if cfg.nd != cfg.n else x
    f = _smap(lambda dal, xl: dal @ xl, cfg.mesh, (cfg.spec, P()), cfg.spec)
    return f(da, xp)[: cfg.n]


@ft.partial(jax.custom_jvp, nondiff_argnums=(2, 3))
def _potrs_core(a, b, cfg: _Cfg, want_logdet: bool):
    x_f, info = _factor_jit(a, cfg)
    x = _solve_with_factor(x_f, b, cfg)
    ld = _logdet_with_factor(x_f, cfg) if want_logdet else jnp.zeros((), jnp.finfo(a.dtype).dtype)
    return K.nan_if(x, info), K.nan_if(ld, info), info


@_potrs_core.defjvp
def _potrs_core_jvp(cfg: _Cfg, want_logdet: bool, primals, tangents):
    a, b = primals
    da, db = tangents
    x_f, info = _factor_jit(a, cfg)
    x = _solve_with_factor(x_f, b, cfg)
    dx = _solve_with_factor(x_f, db - _matvec_rows(da, x, cfg), cfg)
    if want_logdet:
        ld = _logdet_with_factor(x_f, cfg)
        dld = _trace_inv_da(x_f, da, cfg)
    else:
        ld = jnp.zeros((), jnp.finfo(a.dtype).dtype)
        dld = jnp.zeros_like(ld)
    out = (K.nan_if(x, info), K.nan_if(ld, info), info)
    return out, (dx, dld, _float0_zero())


@ft.partial(jax.jit, static_argnums=(2, 3))
def _potrs_jit(a, b, cfg: _Cfg, want_logdet: bool):
    return _potrs_core(a, b, cfg, want_logdet)


def potrs(
    a,
    b,
    tile: int = 256,
    mesh: Mesh | None = None,
    in_specs: P | Sequence[P] | None = None,
    return_status: bool = False,
    pad: bool = True,
    *,
    return_logdet: bool = False,
    engine: str = "auto",
):
    """Solve ``A x = b`` for row-sharded Hermitian positive definite ``A`` (Cholesky solve).

    **Arguments:** as `potri`, plus

    - `b`: ``(N,)`` or ``(N, nrhs)`` right-hand side. It is used replicated (it is small next to
      ``A``); ``in_specs`` may be ``P(axis, None)`` for ``a`` alone or a pair
      ``(P(axis, None), spec_b)`` (``spec_b`` is validated and otherwise only describes ``b``).
    - `return_logdet`: also return ``log det A`` (from the same factorization).

    **Returns:** ``x`` (replicated, shape of ``b``), then ``logdet`` if requested, then the
    status if requested. NaN results and a nonzero status if ``A`` is not positive definite
    (status ``-1`` when ``b`` itself holds NaN/Inf).

    Differentiable in ``a`` and ``b`` (forward and reverse); the tangent reuses the forward
    factorization. Differentiating ``logdet`` costs one distributed inverse.
    """
    spec_a = in_specs
    if isinstance(in_specs, (list, tuple)) and not isinstance(in_specs, P) and len(in_specs) == 2:
        spec_a, spec_b = in_specs
        _normalise_spec(spec_b, "potrs", "in_specs[1]")
    cfg = _resolve(a, tile, mesh, spec_a, pad, engine, "potrs")
    bshape = getattr(b, "shape", None)
    if bshape is None or len(bshape) not in (1, 2) or bshape[0] != cfg.n:
        raise ValueError(f"potrs: `b` must have shape ({cfg.n},) or ({cfg.n}, nrhs), got {bshape}.")
    if jnp.dtype(b.dtype) != jnp.dtype(a.dtype):
        b = jnp.asarray(b).astype(promote(a.dtype, b.dtype))
        if jnp.dtype(b.dtype) != jnp.dtype(a.dtype):
            raise TypeError(f"potrs: `b` dtype {b.dtype} does not match `a` dtype {a.dtype}.")
    vec = len(bshape) == 1
    b2 = b[:, None] if vec else b
    x, ld, info = _potrs_jit(a, b2, cfg, bool(return_logdet))
    # A NaN/Inf right-hand side gives a NaN solution: flag it too, so no status-0 NaN leaks out.
    info = jnp.where(jnp.all(jnp.isfinite(b2)), info, jnp.asarray(-1, jnp.asarray(info).dtype))
    x = x[:, 0] if vec else x
    out: tuple = (x,)
    if return_logdet:
        out += (ld,)
    if return_status:
        out += (info,)
    return out[0] if len(out) == 1 else out


def potrs_shardmap_ctx(a, b, tile: int, axis_name, pad: bool = True, *, engine: str = "shard_map"):
    """`potrs` for use inside your own `jax.shard_map`.

    ``a``: local ``(N/ndev, N)`` row block; ``b``: the full ``(N,)`` or ``(N, nrhs)`` right-hand
    side, replicated over `axis_name`. Returns ``(x, status)`` with ``x`` replicated.
    """
    lay, eng = _ctx_layout(a, tile, axis_name, pad, engine, "potrs_shardmap_ctx")
    vec = b.ndim == 1
    b2 = b[:, None] if vec else b
    if b2.shape[0] != lay.n:
        raise ValueError(f"potrs_shardmap_ctx: `b` must have {lay.n} rows, got shape {b.shape}.")
    x_f, info = _local_factor(a, lay, eng)
    x = K.nan_if(_local_solve(x_f, b2.astype(a.dtype), lay, eng), info)
    return (x[:, 0] if vec else x), info


# --------------------------------------------------------------------------------------------
# symmetrize
# --------------------------------------------------------------------------------------------


@ft.partial(jax.jit, static_argnums=(1, 2))
def _symmetrize_jit(a, cfg: _Cfg, uplo: str):
    n = cfg.n
    if cfg.nd != n:  # uneven: let XLA's partitioner do the transpose
        at = jnp.conj(a).T if jnp.iscomplexobj(a) else a.T
        r = jnp.arange(n)[:, None]
        c = jnp.arange(n)[None, :]
        return _combine(a, at, r, c, uplo)

    def loc(al):
        at = K.conj_transpose_local(al, cfg.ndev, cfg.axis)
        m = al.shape[0]
        r = lax.axis_index(cfg.axis) * m + jnp.arange(m, dtype=jnp.int32)[:, None]  # axis_index is int32
        c = jnp.arange(n, dtype=jnp.int32)[None, :]
        return _combine(al, at, r, c, uplo)

    a = _constrain(a, cfg, cfg.spec)
    return _smap(loc, cfg.mesh, (cfg.spec,), cfg.spec)(a)


def _combine(a, at, r, c, uplo):
    if uplo == "U":
        return jnp.where(c >= r, a, at)
    if uplo == "L":
        return jnp.where(c <= r, a, at)
    return (a + at) / 2


def symmetrize(a, mesh: Mesh | None = None, in_specs=None, *, uplo: str = "U"):
    """Hermitian matrix from one triangle (``uplo="U"`` or ``"L"``) or the average ``"avg"``.

    Row-sharded in and out; the conjugate transpose is one `all_to_all` (a device briefly holds
    two extra shard-sized buffers). `potri` already returns the full inverse; this is for
    results of other tools that fill one triangle only.
    """
    if uplo not in ("U", "L", "avg"):
        raise ValueError(f"symmetrize: `uplo` must be 'U', 'L' or 'avg', got {uplo!r}.")
    cfg = _resolve(a, 1, mesh, in_specs, True, "shard_map", "symmetrize")
    return _symmetrize_jit(a, cfg, uplo)
