"""Static configuration and argument validation of `nativax.distributed` (outside `jit`).

`_resolve` turns the user's ``(a, tile, mesh, in_specs, pad, engine)`` into a hashable `_Cfg`
(the jit cache key) and raises plain ``TypeError``/``ValueError`` naming the bad argument. Also
holds the small global padding / sharding helpers used inside the jitted wrappers.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax import shard_map as _shard_map
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from . import kernels as K
from .engines import ENGINES, DenseSPDEngine
from .engines import resolve as resolve_engine

_SUPPORTED = (jnp.float32, jnp.float64, jnp.complex64, jnp.complex128)
_ENGINES = ("auto", "shard_map", "cusolvermg")


def _smap(f, mesh, in_specs, out_specs):
    return _shard_map(f, mesh=mesh, in_specs=in_specs, out_specs=out_specs, check_vma=True)


# --------------------------------------------------------------------------------------------
# argument validation
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Cfg:
    """Static, hashable configuration of one call (jit cache key)."""

    mesh: Any
    axis: Any  # str or tuple of str
    ndev: int
    n: int  # the caller's N
    nd: int  # N after global padding to a multiple of ndev
    tile: int
    pad: bool
    engine: DenseSPDEngine

    @property
    def spec(self) -> P:
        return P(self.axis, None)

    def layout(self, permuted=True) -> K.Layout:
        ids = self.engine.device_ids(self.mesh, self.axis)
        return K.make_layout(
            self.nd, self.ndev, self.axis, self.tile, pad=self.pad, permuted=permuted, device_ids=ids
        )


def _is_concrete_array(x) -> bool:
    return isinstance(x, jax.Array) and not isinstance(x, jax.core.Tracer)


def _has_explicit_axes(mesh) -> bool:
    """Whether `mesh` has an Explicit axis (sharding in types: avals carry their sharding)."""
    return any("Explicit" in str(t) for t in getattr(mesh, "axis_types", ()))


def _sharding_of(a):
    """`a`'s sharding: a concrete array's, or, for a traced array on a mesh with Explicit axes, the sharding
    in its type (a `NamedSharding` over the `AbstractMesh`); ``None`` when unknown (traced, Auto axes)."""
    if _is_concrete_array(a):
        return a.sharding
    try:
        sharding = jax.typeof(a).sharding
    except (AttributeError, TypeError):
        return None
    if isinstance(sharding, NamedSharding) and not sharding.mesh.empty and _has_explicit_axes(sharding.mesh):
        return sharding
    return None


def _axes_of(entry) -> tuple:
    return entry if isinstance(entry, tuple) else (entry,)


def _check_matrix(a, fname: str):
    shape = getattr(a, "shape", None)
    if shape is None:
        raise TypeError(f"{fname}: `a` must be an array, got {type(a).__name__}.")
    if len(shape) != 2 or shape[0] != shape[1]:
        raise ValueError(f"{fname}: `a` must be a square 2-D matrix, got shape {tuple(shape)}.")
    if shape[0] == 0:
        raise ValueError(f"{fname}: `a` is empty (shape {tuple(shape)}); expected N >= 1.")
    dtype = jnp.dtype(a.dtype)
    if dtype not in [jnp.dtype(t) for t in _SUPPORTED]:
        raise TypeError(
            f"{fname}: `a` has dtype {dtype}; supported are float32, float64, complex64 and "
            "complex128 (complex matrices are treated as Hermitian)."
        )


def _check_tile(tile, fname: str) -> int:
    if isinstance(tile, bool) or not isinstance(tile, (int, np.integer)):
        raise TypeError(f"{fname}: `tile` must be a positive int, got {tile!r}.")
    if tile <= 0:
        raise ValueError(f"{fname}: `tile` must be a positive int, got {tile}.")
    return int(tile)


def _normalise_spec(spec, fname: str, what: str = "in_specs") -> P:
    if isinstance(spec, (list, tuple)) and not isinstance(spec, P):
        if len(spec) != 1:
            raise ValueError(
                f"{fname}: `{what}` must be a PartitionSpec or a 1-element list/tuple holding "
                f"one, got {len(spec)} elements."
            )
        spec = spec[0]
    if not isinstance(spec, P):
        raise TypeError(
            f"{fname}: `{what}` must be a jax.sharding.PartitionSpec such as P('x', None), got "
            f"{type(spec).__name__}."
        )
    return spec


def _row_axis(spec: P, mesh, fname: str):
    """Validate ``P(axis, None)`` against ``mesh``; return (axis, ndev)."""
    parts = tuple(spec)
    if len(parts) < 1 or parts[0] is None or any(p is not None for p in parts[1:]):
        raise ValueError(
            f"{fname}: `in_specs` must shard the rows only, i.e. P(axis_name, None); got {spec}."
        )
    axes = _axes_of(parts[0])
    names = tuple(mesh.axis_names)
    for ax in axes:
        if not isinstance(ax, str):
            raise TypeError(f"{fname}: mesh axis names in `in_specs` must be str, got {ax!r}.")
        if ax not in names:
            raise ValueError(
                f"{fname}: mesh axis {ax!r} named in `in_specs` is not an axis of `mesh` "
                f"(its axes are {names})."
            )
    ndev = int(np.prod([mesh.shape[ax] for ax in axes]))
    return parts[0], ndev


def _default_mesh():
    devs = np.array(jax.devices())
    return Mesh(devs, ("rows",), axis_types=(jax.sharding.AxisType.Auto,))


def _resolve(a, tile, mesh, in_specs, pad, engine, fname: str) -> _Cfg:
    _check_matrix(a, fname)
    tile = _check_tile(tile, fname)
    if engine not in _ENGINES:
        raise ValueError(f"{fname}: `engine` must be one of {_ENGINES}, got {engine!r}.")
    if not isinstance(pad, (bool, np.bool_)):
        raise TypeError(f"{fname}: `pad` must be a bool, got {pad!r}.")
    sharding = _sharding_of(a)
    if mesh is None:
        if isinstance(sharding, NamedSharding):
            mesh = sharding.mesh
        else:
            mesh = _default_mesh()
    if not isinstance(mesh, (Mesh, jax.sharding.AbstractMesh)):
        raise TypeError(f"{fname}: `mesh` must be a jax.sharding.Mesh, got {type(mesh).__name__}.")
    if in_specs is None:
        if isinstance(sharding, NamedSharding) and _same_mesh(sharding.mesh, mesh) and _rows_sharded(sharding.spec):
            in_specs = sharding.spec
        elif len(mesh.axis_names) == 1:
            in_specs = P(mesh.axis_names[0], None)
        else:
            raise ValueError(
                f"{fname}: `in_specs` is required with a multi-axis mesh {tuple(mesh.axis_names)}; "
                "pass P(axis_name, None)."
            )
    spec = _normalise_spec(in_specs, fname)
    axis, ndev = _row_axis(spec, mesh, fname)
    n = int(a.shape[0])
    nd = -(-n // ndev) * ndev
    if nd != n and not pad:
        raise ValueError(
            f"{fname}: pad=False, but N={n} is not divisible by the {ndev} devices of axis "
            f"{axis!r}; pass pad=True (a global copy) or pre-pad to {nd} rows."
        )
    cfg = _Cfg(mesh=mesh, axis=axis, ndev=ndev, n=n, nd=nd, tile=tile, pad=bool(pad), engine=ENGINES["shard_map"])
    cfg.layout()  # raises the pad=False error early
    return dataclasses.replace(cfg, engine=resolve_engine(engine, mesh, axis, fname))


# --------------------------------------------------------------------------------------------
# global padding / sharding helpers (inside jit)
# --------------------------------------------------------------------------------------------


def _rows_sharded(spec) -> bool:
    """Whether a sharding's spec splits the rows (a replicated matrix's spec is ``P()`` or ``P(None, None)``)."""
    return (tuple(spec) + (None,))[0] is not None


def _same_mesh(m1, m2) -> bool:
    """Equal meshes, comparing a concrete `Mesh` with an `AbstractMesh` by their abstract form."""
    if m1 == m2:
        return True
    return getattr(m1, "abstract_mesh", m1) == getattr(m2, "abstract_mesh", m2)


def _constrain(x, cfg: _Cfg, spec: P):
    sh = NamedSharding(cfg.mesh, spec)
    if _has_explicit_axes(cfg.mesh):
        return jax.sharding.reshard(x, sh)
    return lax.with_sharding_constraint(x, sh)


def _global_pad(a, cfg: _Cfg):
    if cfg.nd == cfg.n:
        return a
    extra = cfg.nd - cfg.n
    a = jnp.pad(a, ((0, extra), (0, extra)))
    idx = jnp.arange(cfg.n, cfg.nd)
    return a.at[idx, idx].set(jnp.ones((), a.dtype))


def _global_unpad(x, cfg: _Cfg):
    return x if cfg.nd == cfg.n else x[: cfg.n, : cfg.n]


def _float0_zero():
    return np.zeros((), dtype=jax.dtypes.float0)


def _global_pad_zero(a, cfg: _Cfg):
    if cfg.nd == cfg.n:
        return a
    extra = cfg.nd - cfg.n
    return jnp.pad(a, ((0, extra), (0, extra)))




def _ctx_layout(a, tile, axis_name, pad, engine, fname):
    if getattr(a, "ndim", None) != 2:
        raise ValueError(f"{fname}: `a` must be the 2-D local row block, got shape {getattr(a, 'shape', None)}.")
    dtype = jnp.dtype(a.dtype)
    if dtype not in [jnp.dtype(t) for t in _SUPPORTED]:
        raise TypeError(f"{fname}: unsupported dtype {dtype}.")
    tile = _check_tile(tile, fname)
    if engine not in ENGINES:
        raise ValueError(f"{fname}: `engine` must be 'shard_map' or 'cusolvermg', got {engine!r}.")
    try:
        ndev = int(np.prod([lax.axis_size(ax) for ax in _axes_of(axis_name)]))
    except (NameError, KeyError, ValueError) as e:
        raise ValueError(
            f"{fname}: `axis_name` {axis_name!r} is not a mesh axis bound by the enclosing "
            "shard_map (call this inside jax.shard_map)."
        ) from e
    m0, n = a.shape
    if m0 * ndev != n:
        raise ValueError(
            f"{fname}: local block has shape {a.shape}, but with {ndev} devices along "
            f"{axis_name!r} a row block of an N x N matrix must be (N/{ndev}, N)."
        )
    return K.make_layout(n, ndev, axis_name, tile, pad=pad), ENGINES[engine]
