"""Index-set propagation rules for first-order JAX primitives.

Each rule maps the index sets of an equation's inputs to those of its outputs:
`rule(eqn, sets, vals, ncols) -> list[Sets]`. `sets[i]` is the `(size, ncols)`
boolean CSR array of input `i` (or `None`), `vals[i]` its concrete value when it
is known at trace time (a constant, or computed from constants only), else `None`.

Known values are used where they make the pattern exact: gather/scatter indices,
dynamic slice offsets, `select_n` predicates and multiplication by constant zeros.
When a value is unknown the rule is conservative (a superset of the true pattern).
Control flow and the fallback for unknown primitives live in
`_sparsity_interpreter.py`.
"""

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from . import index_sets as ix
from .index_sets import Sets

Rule = Callable[[Any, list[Sets], list[Any], int], list[Sets]]
RULES: dict[str, Rule] = {}


def _register(*names: str):
    def wrap(fn: Rule) -> Rule:
        for name in names:
            RULES[name] = fn
        return fn

    return wrap


def shape_of(var) -> tuple[int, ...]:
    return tuple(getattr(var.aval, "shape", ()))


def size_of(var) -> int:
    return int(np.prod(shape_of(var), dtype=np.int64))


def ids(shape: tuple[int, ...]) -> np.ndarray:
    """Element ids `0..size-1` in `shape` (int32 below 2^30, leaving room for offsets)."""
    size = int(np.prod(shape, dtype=np.int64))
    return np.arange(size, dtype=np.int32 if size < 2**30 else np.int64).reshape(shape)


def broadcast_ids(in_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> np.ndarray:
    """For every output element, the input element it reads under numpy broadcasting."""
    if tuple(in_shape) == tuple(out_shape):
        return np.arange(int(np.prod(out_shape, dtype=np.int64)), dtype=np.int64)
    return np.broadcast_to(ids(in_shape), out_shape).ravel()


def gather_from(sets: list[Sets], sizes: list[int], out_ids: np.ndarray, ncols: int) -> Sets:
    """Rows picked by `out_ids`, which index the concatenation of all operands."""
    out_ids = np.asarray(out_ids).ravel()
    live = [i for i, s in enumerate(sets) if s is not None]
    if not live:
        return None
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    if len(live) == 1:
        (i,) = live
        if i == 0:  # ids below sizes[0] are the operand's own, the rest (and -1) empty rows
            return ix.take(sets[0], out_ids if len(sets) == 1 else np.where(out_ids < sizes[0], out_ids, -1))
        local = out_ids - offsets[i]
        local = np.where((local >= 0) & (local < sizes[i]) & (out_ids >= 0), local, -1)
        return ix.take(sets[i], local)
    return ix.take(ix.vstack(sets, sizes, ncols), out_ids)


# ---------------------------------------------------------------- elementwise


_ELEMENTWISE = (
    "abs acos acosh add add_any asin asinh atan atan2 atanh cbrt clamp complex conj "
    "convert_element_type copy copy_p cos cosh digamma div erf erf_inv erfc exp exp2 "
    "expm1 igamma igammac igamma_grad_a imag integer_pow lgamma log log1p log2 logistic max "
    "min neg nextafter one_minus_square polygamma polynomial pow real reduce_precision rem "
    "rsqrt sin sinh sqrt square sub tan tanh zeta bessel_i0e bessel_i1e random_gamma_grad "
    "regularized_incomplete_beta"
).split()

# Float-valued primitives whose derivative is zero everywhere it exists.
_ZERO_DERIVATIVE = "ceil floor round sign stop_gradient is_finite".split()


@_register(*_ELEMENTWISE)
def _elementwise(eqn, sets, vals, ncols):
    out_shape = shape_of(eqn.outvars[0])
    out = None
    for var, s in zip(eqn.invars, sets):
        if s is not None:
            if shape_of(var) != out_shape:  # same shape: the sets themselves
                s = ix.take(s, broadcast_ids(shape_of(var), out_shape))
            out = ix.union(out, s)
    return [out]


@_register("bitcast_convert_type")
def _bitcast(eqn, sets, vals, ncols):
    # JAX's JVP of a bitcast is zero, but bitcasts appear in the primal functions of
    # `custom_jvp` rules (bit tricks) whose true derivative is not: keep the
    # dependence, element by element (a superset of JAX's zero JVP). Integer
    # intermediates carry no sets, so a float -> int -> float chain still loses it.
    s = sets[0]
    n_in, n_out = size_of(eqn.invars[0]), size_of(eqn.outvars[0])
    if s is None or n_in == n_out:
        return [s]
    if n_out > n_in and n_out % max(n_in, 1) == 0:  # narrower type: a new trailing axis
        return [ix.take(s, np.repeat(np.arange(n_in), n_out // n_in))]
    if n_in > n_out and n_in % max(n_out, 1) == 0:  # wider type: the trailing axis merges
        r = n_in // n_out
        return [ix.group_union(s, np.arange(n_in), np.arange(n_in) // r, n_out)]
    return [ix.broadcast_columns(ix.all_columns([s]), n_out, ncols)]


@_register(*_ZERO_DERIVATIVE)
def _zero(eqn, sets, vals, ncols):
    return [None] * len(eqn.outvars)


@_register(
    "optimization_barrier", "device_put", "sharding_constraint", "mesh_cast", "reshard",
    "pvary",
)
def _identity(eqn, sets, vals, ncols):
    return list(sets[: len(eqn.outvars)])


@_register("mul")
def _mul(eqn, sets, vals, ncols):
    # Exact for multiplication by constants with zeros (masks, boundary conditions).
    out_shape = shape_of(eqn.outvars[0])
    out = None
    for k in (0, 1):
        s, other = sets[k], vals[1 - k]
        if s is None:
            continue
        idx = broadcast_ids(shape_of(eqn.invars[k]), out_shape)
        if other is not None:
            keep = np.broadcast_to(np.asarray(other) != 0, out_shape).ravel()
            idx = np.where(keep, idx, -1)
        out = ix.union(out, ix.take(s, idx))
    return [out]


@_register("select_n")
def _select_n(eqn, sets, vals, ncols):
    out_shape = shape_of(eqn.outvars[0])
    which = vals[0]
    if which is not None:
        which = np.broadcast_to(np.asarray(which).astype(np.int64), out_shape).ravel()
    out = None
    for k, (var, s) in enumerate(zip(eqn.invars[1:], sets[1:])):
        if s is None:
            continue
        idx = broadcast_ids(shape_of(var), out_shape)
        if which is not None:
            idx = np.where(which == k, idx, -1)
        out = ix.union(out, ix.take(s, idx))
    return [out]


# ----------------------------------------------------------------- structural


def _structural(fn):
    """A rule for ops that copy elements: `fn(eqn, vals)` maps input ids to output ids."""

    def rule(eqn, sets, vals, ncols):
        out_ids = fn(eqn, vals)
        sizes = [size_of(v) for v in eqn.invars]
        if isinstance(out_ids, list):
            return [gather_from(sets, sizes, o, ncols) for o in out_ids]
        return [gather_from(sets, sizes, out_ids, ncols)]

    return rule


def _broadcast_in_dim(eqn, vals):
    (var,) = eqn.invars[:1]
    p = eqn.params
    out_shape = tuple(p["shape"])
    tmp = [1] * len(out_shape)
    for k, d in enumerate(p["broadcast_dimensions"]):
        tmp[d] = shape_of(var)[k]
    return np.broadcast_to(ids(shape_of(var)).reshape(tmp), out_shape)


def _reshape(eqn, vals):
    a = ids(shape_of(eqn.invars[0]))
    dims = eqn.params.get("dimensions")
    if dims is not None:
        a = a.transpose(dims)
    return a.reshape(shape_of(eqn.outvars[0]))


def _transpose(eqn, vals):
    return ids(shape_of(eqn.invars[0])).transpose(eqn.params["permutation"])


def _rev(eqn, vals):
    return np.flip(ids(shape_of(eqn.invars[0])), axis=tuple(eqn.params["dimensions"]))


def _slice(eqn, vals):
    p = eqn.params
    strides = p["strides"] or (1,) * len(p["start_indices"])
    index = tuple(
        slice(s, e, st) for s, e, st in zip(p["start_indices"], p["limit_indices"], strides)
    )
    return ids(shape_of(eqn.invars[0]))[index]


def _pad(eqn, vals):
    shape = shape_of(eqn.invars[0])
    sources = []
    for n, (lo, hi, interior) in zip(shape, eqn.params["padding_config"]):
        out_n = lo + hi + n + max(n - 1, 0) * interior
        src = np.full(out_n, -1, dtype=np.int64)
        k = np.arange(n)
        pos = lo + k * (interior + 1)
        ok = (pos >= 0) & (pos < out_n)
        src[pos[ok]] = k[ok]
        sources.append(src)
    grid = np.ix_(*[np.maximum(s, 0) for s in sources])
    out = ids(shape)[grid] if shape else ids(shape)
    mask = np.ones(out.shape, dtype=bool)
    for d, s in enumerate(sources):
        mask &= (s >= 0).reshape([-1 if i == d else 1 for i in range(len(sources))])
    pad_id = int(np.prod(shape, dtype=np.int64))  # the scalar padding value
    return np.where(mask, out, pad_id)


def _tile(eqn, vals):
    return np.tile(ids(shape_of(eqn.invars[0])), eqn.params["reps"])


def _offset_ids(shape, offset: int, total: int) -> np.ndarray:
    """`ids(shape) + offset`, in a dtype that holds ids up to `total`."""
    a = ids(shape)
    return (a if total < 2**30 else a.astype(np.int64)) + offset


def _concatenate(eqn, vals):
    parts, offset = [], 0
    total = sum(size_of(var) for var in eqn.invars)
    for var in eqn.invars:
        parts.append(_offset_ids(shape_of(var), offset, total))
        offset += size_of(var)
    return np.concatenate(parts, axis=eqn.params["dimension"])


def _stack(eqn, vals):  # `jnp.stack` (a primitive since JAX 0.10)
    size = size_of(eqn.invars[0]) if eqn.invars else 0
    total = size * len(eqn.invars)
    parts = [_offset_ids(shape_of(var), k * size, total) for k, var in enumerate(eqn.invars)]
    return np.stack(parts, axis=eqn.params["axis"])


def _unstack(eqn, vals):  # iterating over an array (JAX 0.12)
    a = ids(shape_of(eqn.invars[0]))
    return [np.take(a, k, axis=eqn.params["axis"]) for k in range(len(eqn.outvars))]


def _split(eqn, vals):
    a = ids(shape_of(eqn.invars[0]))
    cuts = np.cumsum(eqn.params["sizes"])[:-1]
    return [part for part in np.split(a, cuts, axis=eqn.params["axis"])]


def _clamped_starts(starts, shape, sizes):
    return [int(np.clip(int(s), 0, n - k)) for s, n, k in zip(starts, shape, sizes)]


def _reduce_then_broadcast(s: Sets, shape, dims) -> Sets:
    """Every element gets the union of the elements along `dims` (unknown offsets)."""
    if s is None or not dims:
        return s
    a = ids(shape)
    index = tuple(slice(0, 1) if d in dims else slice(None) for d in range(len(shape)))
    rep = np.broadcast_to(a[index], shape).ravel()
    return ix.take(ix.group_union(s, a.ravel(), rep, a.size), rep)


@_register("dynamic_slice")
def _dynamic_slice(eqn, sets, vals, ncols):
    shape = shape_of(eqn.invars[0])
    sizes = eqn.params["slice_sizes"]
    idx_vals = vals[1:]
    unknown = [d for d, v in enumerate(idx_vals) if v is None]
    s = _reduce_then_broadcast(sets[0], shape, unknown)
    starts = [0 if v is None else v for v in idx_vals]
    starts = _clamped_starts(starts, shape, sizes)
    index = tuple(slice(a, a + k) for a, k in zip(starts, sizes))
    return [ix.take(s, ids(shape)[index])]


@_register("dynamic_update_slice")
def _dynamic_update_slice(eqn, sets, vals, ncols):
    shape = shape_of(eqn.invars[0])
    upd_shape = shape_of(eqn.invars[1])
    n = int(np.prod(shape, dtype=np.int64))
    if any(v is None for v in vals[2:]):
        cols = ix.all_columns([sets[1]])
        return [ix.union(sets[0], ix.broadcast_columns(cols, n, ncols))]
    starts = _clamped_starts(vals[2:], shape, upd_shape)
    out = ids(shape).astype(np.int64)
    out[tuple(slice(a, a + k) for a, k in zip(starts, upd_shape))] = ids(upd_shape).astype(np.int64) + n
    return [gather_from(list(sets[:2]), [n, size_of(eqn.invars[1])], out, ncols)]


@_register("squeeze", "expand_dims")
def _same_order(eqn, sets, vals, ncols):
    # Row-major element order is unchanged: the sets themselves.
    return [sets[0]]


@_register("reshape")
def _reshape_rule(eqn, sets, vals, ncols):
    if eqn.params.get("dimensions") is None:
        return [sets[0]]
    return [gather_from(sets[:1], [size_of(eqn.invars[0])], _reshape(eqn, vals), ncols)]


for _name, _fn in {
    "broadcast_in_dim": _broadcast_in_dim,
    "transpose": _transpose,
    "rev": _rev,
    "slice": _slice,
    "pad": _pad,
    "concatenate": _concatenate,
    "tile": _tile,
    "split": _split,
    "stack": _stack,
    "unstack": _unstack,
}.items():
    RULES[_name] = _structural(_fn)


# ----------------------------------------------------------- gather / scatter


def _eval_gather(operand_ids, indices, params) -> np.ndarray:
    """Run the gather itself on element ids (out-of-bounds fills become -1)."""
    params = dict(params)
    if "fill_value" in params:
        params["fill_value"] = -1
    with jax.ensure_compile_time_eval():
        out = lax.gather_p.bind(
            jnp.asarray(operand_ids, dtype=jnp.int32), jnp.asarray(indices), **params
        )
    return np.asarray(out).astype(np.int64)


@_register("gather")
def _gather(eqn, sets, vals, ncols):
    shape = shape_of(eqn.invars[0])
    indices = vals[1]
    s = sets[0]
    if indices is None:
        dnums = eqn.params["dimension_numbers"]
        s = _reduce_then_broadcast(s, shape, tuple(dnums.start_index_map))
        indices = np.zeros(shape_of(eqn.invars[1]), dtype=eqn.invars[1].aval.dtype)
    return [ix.take(s, _eval_gather(ids(shape), indices, eqn.params))]


def _scatter_destinations(eqn, indices) -> np.ndarray:
    """For each update element, the operand element it lands on (-1 if dropped)."""
    operand, updates = eqn.invars[0], eqn.invars[2]
    dn = eqn.params["dimension_numbers"]
    batching = tuple(getattr(dn, "operand_batching_dims", ()))
    slice_sizes, pos = [], 0
    for d in range(len(shape_of(operand))):
        if d in dn.inserted_window_dims or d in batching:
            slice_sizes.append(1)
        else:
            slice_sizes.append(shape_of(updates)[dn.update_window_dims[pos]])
            pos += 1
    gdn = lax.GatherDimensionNumbers(
        offset_dims=tuple(dn.update_window_dims),
        collapsed_slice_dims=tuple(dn.inserted_window_dims),
        start_index_map=tuple(dn.scatter_dims_to_operand_dims),
        operand_batching_dims=batching,
        start_indices_batching_dims=tuple(getattr(dn, "scatter_indices_batching_dims", ())),
    )
    mode = eqn.params["mode"]
    with jax.ensure_compile_time_eval():
        out = lax.gather(
            jnp.asarray(ids(shape_of(operand)), dtype=jnp.int32),
            jnp.asarray(indices),
            gdn,
            tuple(slice_sizes),
            mode=mode,
            fill_value=-1,
        )
    return np.asarray(out).astype(np.int64).ravel()


def _scatter(eqn, sets, vals, ncols):
    op_set, upd_set = sets[0], sets[2]
    n = size_of(eqn.invars[0])
    if vals[1] is None:
        cols = ix.all_columns([upd_set])
        return [ix.union(op_set, ix.broadcast_columns(cols, n, ncols))]
    dest = _scatter_destinations(eqn, vals[1])
    keep = np.arange(n, dtype=np.int64)
    if eqn.primitive.name == "scatter":  # overwrite: hit elements forget the operand
        hit = np.zeros(n, dtype=bool)
        hit[dest[dest >= 0]] = True
        keep = np.where(hit, -1, keep)
    src = np.arange(dest.size, dtype=np.int64)
    return [ix.union(ix.take(op_set, keep), ix.group_union(upd_set, src, dest, n))]


for _name in ("scatter", "scatter-add", "scatter_add", "scatter-sub", "scatter_sub",
              "scatter-mul", "scatter_mul", "scatter-min", "scatter_min", "scatter-max",
              "scatter_max"):
    RULES[_name] = _scatter


# ---------------------------------------------------------- many-to-one maps


def _reduce_axes(s: Sets, shape, axes, ncols) -> Sets:
    axes = tuple(a % max(len(shape), 1) for a in axes)
    kept = tuple(n for d, n in enumerate(shape) if d not in axes)
    out_size = int(np.prod(kept, dtype=np.int64))
    if out_size == 1:
        return ix.broadcast_columns(ix.all_columns([s]), 1, ncols)
    tmp = [1 if d in axes else n for d, n in enumerate(shape)]
    dst = np.broadcast_to(ids(kept).reshape(tmp), shape).ravel()
    return ix.group_union(s, np.arange(dst.size), dst, out_size)


@_register("reduce_sum", "reduce_max", "reduce_min", "reduce_prod", "reduce",
           "argmax", "argmin", "reduce_and", "reduce_or", "reduce_xor")
def _reduce(eqn, sets, vals, ncols):
    axes = eqn.params.get("axes", eqn.params.get("dimensions"))
    nops = len(eqn.outvars)
    merged = ix.union_all(
        [s for s, v in zip(sets[:nops], eqn.invars[:nops]) if s is not None]
    )
    out = _reduce_axes(merged, shape_of(eqn.invars[0]), tuple(axes), ncols)
    return [out] * nops


@_register("cumsum", "cumprod", "cummax", "cummin", "cumlogsumexp")
def _cumulative(eqn, sets, vals, ncols):
    shape = shape_of(eqn.invars[0])
    axis, reverse = eqn.params["axis"], eqn.params["reverse"]
    a = np.moveaxis(ids(shape), axis, -1)
    n = shape[axis]
    dst_k, src_k = np.tril_indices(n)
    if reverse:
        dst_k, src_k = n - 1 - dst_k, n - 1 - src_k
    dst = a[..., dst_k].ravel()
    src = a[..., src_k].ravel()
    return [ix.group_union(sets[0], src, dst, a.size)]


@_register("sort")
def _sort(eqn, sets, vals, ncols):
    # The permutation depends on values: every output element may come from any
    # element along the sorted axis, of any operand.
    shape = shape_of(eqn.invars[0])
    merged = ix.union_all(list(sets))
    return [_reduce_then_broadcast(merged, shape, (eqn.params["dimension"],))] * len(
        eqn.outvars
    )


@_register("top_k")
def _top_k(eqn, sets, vals, ncols):
    # Any element along the axis may be selected (JAX 0.12 adds `axis`; before: last).
    shape = shape_of(eqn.invars[0])
    out_shape = shape_of(eqn.outvars[0])
    axis = int(eqn.params.get("axis", -1)) % len(shape)
    red = _reduce_axes(sets[0], shape, (axis,), ncols)
    kept = np.expand_dims(ids(shape[:axis] + shape[axis + 1:]), axis)
    rows = np.broadcast_to(kept, out_shape).ravel()
    return [ix.take(red, rows), None]


@_register("dot_general")
def _dot_general(eqn, sets, vals, ncols):
    (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
    lshape, rshape = shape_of(eqn.invars[0]), shape_of(eqn.invars[1])
    lfree = [d for d in range(len(lshape)) if d not in lc and d not in lb]
    rfree = [d for d in range(len(rshape)) if d not in rc and d not in rb]
    size_b = int(np.prod([lshape[d] for d in lb], dtype=np.int64))
    size_i = int(np.prod([lshape[d] for d in lfree], dtype=np.int64))
    size_k = int(np.prod([lshape[d] for d in lc], dtype=np.int64))
    size_j = int(np.prod([rshape[d] for d in rfree], dtype=np.int64))
    # Canonical layouts: lhs (B, I, K), rhs (B, K, J), output (B, I, J), with
    # B = size_b etc.
    lperm, rperm = list(lb) + lfree + list(lc), list(rb) + list(rc) + rfree
    lids = ids(lshape).transpose(lperm).reshape(size_b, size_i, size_k)
    rids = ids(rshape).transpose(rperm).reshape(size_b, size_k, size_j)
    lval = None if vals[0] is None else np.asarray(vals[0]).transpose(lperm).reshape(size_b, size_i, size_k)
    rval = None if vals[1] is None else np.asarray(vals[1]).transpose(rperm).reshape(size_b, size_k, size_j)
    out_size = size_b * size_i * size_j
    out = None
    if sets[0] is not None:
        if rval is not None:  # out[b,i,j] <- lhs[b,i,k] where rhs[b,k,j] != 0
            b, k, j = np.nonzero(rval)
            i = np.arange(size_i)[:, None]
            dst = (b * size_i * size_j + i * size_j + j).ravel()
            src = lids[b, i, k].ravel()
            out = ix.union(out, ix.group_union(sets[0], src, dst, out_size))
        else:
            rows = np.repeat(np.arange(size_b * size_i), size_k)
            red = ix.group_union(sets[0], lids.ravel(), rows, size_b * size_i)
            out = ix.union(out, ix.take(red, np.repeat(np.arange(size_b * size_i), size_j)))
    if sets[1] is not None:
        if lval is not None:  # out[b,i,j] <- rhs[b,k,j] where lhs[b,i,k] != 0
            b, i, k = np.nonzero(lval)
            j = np.arange(size_j)[:, None]
            dst = (b * size_i * size_j + i * size_j + j).ravel()
            src = rids[b, k, j].ravel()
            out = ix.union(out, ix.group_union(sets[1], src, dst, out_size))
        else:
            r = rids.transpose(0, 2, 1)  # (B, J, K)
            rows = np.repeat(np.arange(size_b * size_j), size_k)
            red = ix.group_union(sets[1], r.ravel(), rows, size_b * size_j)
            bj = (np.arange(size_b)[:, None, None] * size_j + np.arange(size_j)[None, None, :])
            out = ix.union(out, ix.take(red, np.broadcast_to(bj, (size_b, size_i, size_j)).ravel()))
    return [out]
