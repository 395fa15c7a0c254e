"""Index sets through mutable references (`jax.new_ref`, `ref[...] = v`, `ref[i] += v`,
`jax.freeze`).

A reference's current sets live in the interpreter's environment under the
reference's variable; `swap`/`addupdate` replace them there. Whole-array accesses
(`ref[...]`: no index operands, the accessed shape is the reference's) are exact.
Indexed accesses are conservative: a read may return anything the reference holds,
and a write may land on any element (so every element keeps what it had and gains
everything written). An equation that takes a reference into a call or loop body
makes every output, and the reference, depend on everything it sees (with a
warning).
"""

import jax

from . import index_sets as ix
from .fallback import dense_rule
from .index_sets import Sets
from .rules import shape_of, size_of

_NEW = ("new_ref", "mutable_array", "empty_ref")
_READ = ("get", "freeze")
_WRITE = ("swap", "addupdate")


def is_ref(var) -> bool:
    return isinstance(getattr(var, "aval", None), jax.ref.AbstractRef)


def touches_refs(eqn) -> bool:
    return any(is_ref(v) for v in list(eqn.invars) + list(eqn.outvars))


def _whole(eqn, accessed) -> bool:
    """`ref[...]`: no index operands beyond the reference (and the value written)."""
    extra = 2 if eqn.primitive.name in _WRITE else 1
    return len(eqn.invars) == extra and shape_of(accessed) == shape_of(eqn.invars[0])


def _everywhere(s: Sets, size: int, ncols: int) -> Sets:
    return ix.broadcast_columns(ix.all_columns([s]), size, ncols)


def state_eqn(eqn, sets: list[Sets], env_sets: dict, ncols: int, ctx) -> list[Sets]:
    """Output sets of `eqn`; references it writes get their new sets in `env_sets`."""
    name = eqn.primitive.name
    if name in _NEW:
        return [sets[0] if sets else None]
    if name in _READ:
        out = eqn.outvars[0]
        return [sets[0] if _whole(eqn, out) else _everywhere(sets[0], size_of(out), ncols)]
    if name in _WRITE:
        ref, value = eqn.invars[0], eqn.invars[1]
        old, new = sets[0], sets[1]
        whole = _whole(eqn, value)
        if not whole:
            new = _everywhere(new, size_of(ref), ncols)
        env_sets[ref] = new if (whole and name == "swap") else ix.union(old, new)
        if not eqn.outvars:
            return []
        out = eqn.outvars[0]
        return [old if whole else _everywhere(old, size_of(out), ncols)]
    # A call or loop that reads or writes references: everything it sees, everywhere.
    out_sets = dense_rule(eqn, sets, ncols, ctx, "it reads or writes mutable references")
    cols = ix.all_columns(sets)
    for var in eqn.invars:
        if is_ref(var):
            env_sets[var] = ix.union(env_sets.get(var), ix.broadcast_columns(cols, size_of(var), ncols))
    return out_sets
