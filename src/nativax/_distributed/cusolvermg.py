"""cuSOLVERMg engine of `nativax.distributed` (optional CUDA extension ``nativax._cusolvermg_cuda``).

STATUS: UNVERIFIED. The extension compiles against the cuSOLVERMg headers of the
``nvidia-cusolver`` wheels, but this code path has not been executed on a GPU by this project.

cuSOLVERMg is a single-process multi-GPU library: one host call drives all GPUs. Under
`shard_map`, XLA invokes the custom call once per device (on per-device threads); the native
handlers rendezvous (keyed by XLA's run id and a per-call-site id), the last device to arrive runs
the cuSOLVERMg routine on everybody's buffers, and all return. cuSOLVERMg stores matrices
column-major, 1-D block-cyclic over columns with block ``tile``; a row-major local block of
``N/ndev`` rows of a Hermitian ``A`` *is* such a column block of ``A^T = conj(A)``. The
block-cyclic tile order is obtained by the same logical tile permutation as the shard_map engine
(a local column gather, skipped when every device holds a single tile).
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from . import kernels as K

_ext = None
_err: Exception | None = None
_call_ids = itertools.count(1)

TARGETS = ("nativax_mg_potrf", "nativax_mg_potri", "nativax_mg_potrs")


def load():
    """Import the extension and register its FFI targets for CUDA (once). None if absent."""
    global _ext, _err
    if _ext is None and _err is None:
        try:
            from .. import _cusolvermg_cuda as ext  # type: ignore[attr-defined]

            for name, capsule in ext.ffi_targets().items():
                jax.ffi.register_ffi_target(name, capsule, platform="CUDA")
            _ext = ext
        except Exception as e:  # ImportError, or a CUDA runtime/library load failure
            _err = e
    return _ext


def unavailable_reason(mesh, axis) -> str | None:
    """Why the cuSOLVERMg engine cannot run on ``mesh`` (None when it can)."""
    if load() is None:
        return (
            "the optional CUDA extension nativax._cusolvermg_cuda is not built or cannot be loaded "
            f"({_err}); it is built only when CUDA and the cusolverMg headers/libraries (from the "
            "nvidia-cusolver wheels installed by jax[cuda]) are found at build time"
        )
    devices = getattr(mesh, "devices", None)
    if devices is None:
        return "an AbstractMesh has no concrete devices"
    devs = list(np.asarray(devices).flat)
    if any(d.platform != "gpu" for d in devs):
        return "the mesh contains non-GPU devices"
    if jax.process_count() != 1:
        return "cuSOLVERMg is single-process; under jax.distributed use engine='shard_map'"
    row_axes = axis if isinstance(axis, tuple) else (axis,)
    others = [a for a in mesh.axis_names if a not in row_axes and mesh.shape[a] > 1]
    if others:
        return f"the mesh has non-row axes {others} of size > 1"
    return None




def device_ids(mesh, axis) -> tuple[int, ...]:
    """CUDA ordinals of the row-axis devices, in shard order."""
    row_axes = axis if isinstance(axis, tuple) else (axis,)
    names = list(mesh.axis_names)
    devs = np.asarray(mesh.devices)
    order = [names.index(a) for a in row_axes] + [i for i, a in enumerate(names) if a not in row_axes]
    devs = np.transpose(devs, order).reshape(-1)
    return tuple(int(d.local_hardware_id) for d in devs[: int(np.prod([mesh.shape[a] for a in row_axes]))])


# ------------------------------------------------------------------------------------------
# layout helpers (inside shard_map)
# ------------------------------------------------------------------------------------------


def _to_logical_cols(x, lay: K.Layout):
    if lay.ntl == 1 or lay.ndev == 1:
        return x
    m, D, ntl, T = lay.m, lay.ndev, lay.ntl, lay.tile
    return x.reshape(m, D, ntl, T).transpose(0, 2, 1, 3).reshape(m, lay.npad)


def _to_physical_cols(x, lay: K.Layout):
    if lay.ntl == 1 or lay.ndev == 1:
        return x
    m, D, ntl, T = lay.m, lay.ndev, lay.ntl, lay.tile
    return x.reshape(m, ntl, D, T).transpose(0, 2, 1, 3).reshape(m, lay.npad)


def _to_logical_rows(v, lay: K.Layout):
    if lay.ntl == 1 or lay.ndev == 1:
        return v
    D, ntl, T, r = lay.ndev, lay.ntl, lay.tile, v.shape[1]
    return v.reshape(D, ntl, T, r).transpose(1, 0, 2, 3).reshape(lay.npad, r)


def _to_physical_rows(v, lay: K.Layout):
    if lay.ntl == 1 or lay.ndev == 1:
        return v
    D, ntl, T, r = lay.ndev, lay.ntl, lay.tile, v.shape[1]
    return v.reshape(ntl, D, T, r).transpose(1, 0, 2, 3).reshape(lay.npad, r)


def _attrs(lay: K.Layout):
    if not lay.device_ids:
        raise ValueError(
            "engine='cusolvermg' needs the concrete mesh (its CUDA device ordinals); pass `mesh=`."
        )
    return dict(
        n=np.int64(lay.npad),
        tile=np.int64(lay.tile),
        device_ids=np.asarray(lay.device_ids, np.int32),
        call_id=np.int64(next(_call_ids)),
    )


def _inplace(name: str, x, lay: K.Layout):
    out = (jax.ShapeDtypeStruct(x.shape, x.dtype), jax.ShapeDtypeStruct((1,), jnp.int32))
    call = jax.ffi.ffi_call(name, out, input_output_aliases={0: 0}, vmap_method="sequential")
    y, info = call(x, **_attrs(lay))
    return y, info[0]


# ------------------------------------------------------------------------------------------
# engine entry points (inside shard_map; x is the padded local block (m, Np))
# ------------------------------------------------------------------------------------------


def potrf_local(x, lay: K.Layout):
    """Factor for `potrs_local`/`logdet_local` (logical column order, cuSOLVERMg storage)."""
    return _inplace("nativax_mg_potrf", _to_logical_cols(x, lay), lay)


def potrs_local(xf, bp, lay: K.Layout):
    """Solve with a `potrf_local` factor; ``bp`` replicated (Np, r), physical row order."""
    bl = _to_logical_rows(bp, lay)
    bt = jnp.conj(bl).T if jnp.iscomplexobj(bl) else bl.T  # col-major (Np, r) of conj(b)
    out = (jax.ShapeDtypeStruct(bt.shape, bt.dtype), jax.ShapeDtypeStruct((1,), jnp.int32))
    call = jax.ffi.ffi_call("nativax_mg_potrs", out, input_output_aliases={1: 0},
                            vmap_method="sequential")
    xt, _ = call(xf, bt, nrhs=np.int64(bt.shape[0]), **_attrs(lay))
    xl = jnp.conj(xt).T if jnp.iscomplexobj(xt) else xt.T
    return _to_physical_rows(xl, lay)


def logdet_local(xf, lay: K.Layout):
    # the factor's diagonal blocks sit at logical column positions
    return K.logdet_local(xf, lay.replace(permuted=False))


def _element_logical(lay: K.Layout, d):
    T, D, ntl = lay.tile, lay.ndev, lay.ntl
    r = jnp.arange(lay.m, dtype=jnp.int32)
    rlog = ((r // T) * D + d) * T + r % T
    c = jnp.arange(lay.npad, dtype=jnp.int32)
    pt = c // T
    clog = ((pt % ntl) * D + pt // ntl) * T + c % T
    return rlog[:, None], clog[None, :]


def potri_local(x, lay: K.Layout):
    """Full inverse (physical layout) and status: cuSOLVERMg potrf+potri, then mirror."""
    y, info = _inplace("nativax_mg_potri", _to_logical_cols(x, lay), lay)
    y = _to_physical_cols(y, lay)
    yt = K.conj_transpose_local(y, lay.ndev, lay.axis)
    rlog, clog = _element_logical(lay, lax.axis_index(lay.axis))
    return jnp.where(clog >= rlog, y, yt), info


def potrf_true_order_local(x, lay: K.Layout):
    """True-order lower factor from block-cyclic rows ``x`` (lay.permuted=False).

    Returns the contiguous-row factor (already moved back), upper triangle zeroed.
    """
    y, info = _inplace("nativax_mg_potrf", x, lay)  # upper (row-major) now holds L^H
    y = K.exchange_row_tiles(y, lay, to_cyclic=False)
    low = K.conj_transpose_local(y, lay.ndev, lay.axis)
    d = lax.axis_index(lay.axis)
    r = d * lay.m + jnp.arange(lay.m, dtype=jnp.int32)[:, None]
    c = jnp.arange(lay.npad, dtype=jnp.int32)[None, :]
    return jnp.where(c <= r, low, jnp.zeros((), low.dtype)), info
