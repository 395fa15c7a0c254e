"""Index-set rules for windowed primitives: `reduce_window*` (pooling, `jnp.cumsum`
on some backends), `select_and_gather_add`/`select_and_scatter_add` (the JVP and
transpose of max pooling) and `conv_general_dilated` (`jnp.convolve`, `lax.conv`).

Every rule enumerates the window taps of each output element from the window
geometry (size, strides, padding, base/lhs and window/rhs dilation). A pooled
output may depend on every element of its window (which one a max picks depends
on values); a convolution's output depends on the taps where the other operand is
not known to be zero (a constant kernel with zeros keeps the stencil exact).
"""

import numpy as np

from . import index_sets as ix
from .params import UnsupportedParams, field
from .rules import _register, ids, shape_of, size_of


def _axis_taps(n_in, window, stride, pad, base_dil, win_dil) -> np.ndarray:
    """`(n_out, window)`: the input index each tap of each output reads, or -1 (padding,
    or a hole of the base dilation)."""
    lo, hi = pad
    dilated = (n_in - 1) * base_dil + 1 if n_in > 0 else 0
    padded = dilated + lo + hi
    span = (window - 1) * win_dil + 1 if window > 0 else 0
    n_out = (padded - span) // stride + 1 if padded >= span and window > 0 else 0
    pos = np.arange(n_out)[:, None] * stride + np.arange(window)[None, :] * win_dil - lo
    ok = (pos >= 0) & (pos % base_dil == 0) & (pos // base_dil < n_in)
    return np.where(ok, pos // base_dil, -1).astype(np.int64)


def window_taps(in_shape, window, strides, padding, base_dil, win_dil):
    """`(out_shape, taps)` where `taps[o, k]` is the flat input element read by tap `k`
    of flat output element `o`, or -1."""
    nd = len(in_shape)
    axes = [
        _axis_taps(int(in_shape[d]), int(window[d]), int(strides[d]), tuple(padding[d]),
                   int(base_dil[d]), int(win_dil[d]))
        for d in range(nd)
    ]
    out_shape = tuple(a.shape[0] for a in axes)
    in_strides = np.cumprod((1,) + tuple(in_shape[::-1]))[:-1][::-1]
    grid = np.zeros(out_shape + tuple(window), dtype=np.int64)
    valid = np.ones(out_shape + tuple(window), dtype=bool)
    for d, a in enumerate(axes):
        shape = [1] * (2 * nd)
        shape[d], shape[nd + d] = a.shape
        a = a.reshape(shape)
        grid = grid + np.where(a >= 0, a, 0) * int(in_strides[d])
        valid = valid & (a >= 0)
    out_size = int(np.prod(out_shape, dtype=np.int64))
    win_size = int(np.prod(window, dtype=np.int64))
    taps = np.where(valid, grid, -1).reshape(out_size, win_size)
    return out_shape, taps


def _check(out_shape, var):
    if tuple(out_shape) != shape_of(var):
        raise UnsupportedParams(f"window geometry gives {out_shape}, the equation has {shape_of(var)}")


def _dilations(p, rank):
    ones = (1,) * rank
    return p.get("base_dilation") or ones, p.get("window_dilation") or ones


def _window_union(s, in_shape, p, out_var):
    base, win = _dilations(p, len(in_shape))
    out_shape, taps = window_taps(in_shape, p["window_dimensions"], p["window_strides"],
                                  p["padding"], base, win)
    _check(out_shape, out_var)
    dst = np.repeat(np.arange(taps.shape[0], dtype=np.int64), taps.shape[1])
    return ix.group_union(s, taps.ravel(), dst, taps.shape[0])


@_register("reduce_window_sum", "reduce_window_max", "reduce_window_min")
def _reduce_window(eqn, sets, vals, ncols):
    return [_window_union(sets[0], shape_of(eqn.invars[0]), eqn.params, eqn.outvars[0])]


@_register("reduce_window")
def _reduce_window_generic(eqn, sets, vals, ncols):
    # Operands, then one (scalar) initial value per operand; every output may mix
    # every operand's window and the initial values.
    k = len(eqn.outvars)
    operands = [s for s in sets[:k] if s is not None]
    merged = ix.union_all(operands)
    out = _window_union(merged, shape_of(eqn.invars[0]), eqn.params, eqn.outvars[0])
    init_cols = ix.all_columns(list(sets[k:]))
    out = ix.union(out, ix.broadcast_columns(init_cols, size_of(eqn.outvars[0]), ncols))
    return [out] * k


@_register("select_and_gather_add")
def _select_and_gather_add(eqn, sets, vals, ncols):
    # (tangents, operand): each output is the tangent at the selected element of its
    # window; JAX defines no derivative with respect to `operand`.
    return [_window_union(sets[0], shape_of(eqn.invars[1]), eqn.params, eqn.outvars[0])]


@_register("select_and_scatter_add")
def _select_and_scatter_add(eqn, sets, vals, ncols):
    # (source, operand): source element o is added to the selected element of window o.
    operand = eqn.invars[1]
    in_shape = shape_of(operand)
    ones = (1,) * len(in_shape)
    p = eqn.params
    out_shape, taps = window_taps(in_shape, p["window_dimensions"], p["window_strides"],
                                  p["padding"], ones, ones)
    _check(out_shape, eqn.invars[0])
    src = np.repeat(np.arange(taps.shape[0], dtype=np.int64), taps.shape[1])
    return [ix.group_union(sets[0], src, taps.ravel(), size_of(operand))]


@_register("conv_general_dilated")
def _conv_general_dilated(eqn, sets, vals, ncols):
    p = eqn.params
    if int(p.get("batch_group_count", 1)) != 1:
        raise UnsupportedParams("conv_general_dilated with batch_group_count > 1")
    dn = p["dimension_numbers"]
    lhs, rhs, out = eqn.invars[0], eqn.invars[1], eqn.outvars[0]
    rank = len(shape_of(lhs))
    if dn is None:
        lspec = rspec = ospec = tuple(range(rank))
    else:
        lspec, rspec, ospec = (tuple(field(dn, n, i)) for i, n in
                               enumerate(("lhs_spec", "rhs_spec", "out_spec")))
    lids = ids(shape_of(lhs)).transpose(lspec)  # (N, C, *S)
    rids = ids(shape_of(rhs)).transpose(rspec)  # (O, Cg, *K)
    oids = ids(shape_of(out)).transpose(ospec)  # (N, O, *Y)
    nb, cin = lids.shape[:2]
    nout, cg = rids.shape[:2]
    groups = int(p.get("feature_group_count", 1))
    if cin != groups * cg or nout % groups:
        raise UnsupportedParams("conv_general_dilated feature groups do not match the shapes")
    nsp = rank - 2
    ones = (1,) * nsp
    y_shape, taps = window_taps(
        lids.shape[2:], rids.shape[2:], p["window_strides"], p["padding"],
        p.get("lhs_dilation") or ones, p.get("rhs_dilation") or ones,
    )
    if tuple(y_shape) != oids.shape[2:]:
        raise UnsupportedParams("conv_general_dilated output shape does not match its geometry")
    ny, nk = taps.shape
    lflat = lids.reshape(nb, cin, -1)
    rflat = rids.reshape(nout, cg, nk)
    oflat = oids.reshape(nb, nout, ny)
    n = np.arange(nb)[:, None, None, None, None]
    o = np.arange(nout)[None, :, None, None, None]
    y = np.arange(ny)[None, None, :, None, None]
    k = np.arange(nk)[None, None, None, :, None]
    c = np.arange(cg)[None, None, None, None, :]
    full = (nb, nout, ny, nk, cg)
    x = taps[y, k]
    valid = x >= 0
    xs = np.where(valid, x, 0)
    cc = (o // (nout // groups)) * cg + c
    dst = np.broadcast_to(oflat[n, o, y], full)
    result = None
    if sets[0] is not None:
        keep = valid
        if vals[1] is not None:
            kernel = np.asarray(vals[1]).transpose(rspec).reshape(nout, cg, nk)
            keep = keep & (kernel[o, c, k] != 0)
        src = np.broadcast_to(lflat[n, cc, xs], full)
        keep = np.broadcast_to(keep, full)
        result = ix.union(result, ix.group_union(sets[0], src[keep], dst[keep], size_of(out)))
    if sets[1] is not None:
        keep = valid
        if vals[0] is not None:
            image = np.asarray(vals[0]).transpose(lspec).reshape(nb, cin, -1)
            keep = keep & (image[n, cc, xs] != 0)
        src = np.broadcast_to(rflat[o, c, k], full)
        keep = np.broadcast_to(keep, full)
        result = ix.union(result, ix.group_union(sets[1], src[keep], dst[keep], size_of(out)))
    return [result]
