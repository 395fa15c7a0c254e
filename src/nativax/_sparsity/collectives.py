"""Index-set rules for collectives (`psum`, `pmax`, `all_gather`, ...) inside `shard_map`
bodies.

The interpreter enters a `shard_map` body only when the body's shapes equal the
call's (see `interpreter._call_jaxpr`): every operand is then whole on every shard
(replicated, or split over mesh axes of size 1). No rule specialises on the shard's
position (`axis_index` is never a known value), so the sets computed for one shard
hold for all of them, and a collective combines elements whose sets are the same:

- `psum`/`pmax`/`pmin`/`ppermute`/`pbroadcast` (and `psum_invariant`, JAX's name for
  `psum` of replicated values): element `i` of the result depends on element `i` of
  the operand on every shard, which is what element `i` depends on here.
- `all_gather`: every block of the result is a copy of the operand.
- `reduce_scatter` (`psum_scatter`), `all_to_all` and anything else that moves
  elements between positions: each result element may depend on every element of
  the operand (conservative).
"""

import numpy as np

from . import index_sets as ix
from .params import UnsupportedParams
from .rules import _register, ids, shape_of, size_of


@_register("psum", "psum_invariant", "pmax", "pmin", "ppermute", "pbroadcast", "pmean")
def _same_position(eqn, sets, vals, ncols):
    out = []
    for var_in, var_out, s in zip(eqn.invars, eqn.outvars, sets):
        if shape_of(var_in) == shape_of(var_out):
            out.append(s)
        else:  # a layout this rule does not know: every element, conservatively
            out.append(_everything(s, size_of(var_out), ncols))
    return out


def _everything(s, size: int, ncols: int):
    return ix.broadcast_columns(ix.all_columns([s]), size, ncols)


@_register("all_gather", "all_gather_invariant")
def _all_gather(eqn, sets, vals, ncols):
    in_shape, out_shape = shape_of(eqn.invars[0]), shape_of(eqn.outvars[0])
    p = eqn.params
    try:
        axis, tiled, k = int(p["all_gather_dimension"]), bool(p["tiled"]), int(p["axis_size"])
    except (KeyError, TypeError, ValueError) as err:
        raise UnsupportedParams(f"all_gather parameters: {err!r}") from err
    a = ids(in_shape)
    if tiled:
        src = np.concatenate([a] * k, axis=axis) if k else np.zeros(out_shape, a.dtype)
    else:
        src = np.stack([a] * k, axis=axis) if k else np.zeros(out_shape, a.dtype)
    if src.shape != out_shape:
        return [_everything(sets[0], size_of(eqn.outvars[0]), ncols)]
    return [ix.take(sets[0], src.ravel())]


@_register("reduce_scatter", "all_to_all", "ragged_all_to_all")
def _moves_elements(eqn, sets, vals, ncols):
    cols = ix.all_columns(list(sets))
    return [ix.broadcast_columns(cols, size_of(v), ncols) for v in eqn.outvars]
