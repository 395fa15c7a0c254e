"""Walks a jaxpr, propagating index sets (and trace-time-known values) equation by
equation. First-order rules are in `rules.py`, `windows.py` and `linalg.py`; this
module adds control flow (`cond`, `scan`, `while`), `custom_linear_solve`
(`linear_solve.py`), calls into sub-jaxprs (`jit`, `closed_call`, `remat`,
`custom_jvp_call`, `custom_vjp_call`, ...) and, for primitives without a rule, the
sound fallback of `fallback.py` (through the primitive's JVP, else dense).
Parameters whose layout differs between JAX lines are read through `params.py`.
"""

import dataclasses
from collections.abc import Sequence
from typing import Any

import jax
import jax.extend.core as jex
import jax.numpy as jnp
import numpy as np

from . import collectives as _collectives  # noqa: F401  (registers its rules)
from . import index_sets as ix
from . import linalg as _linalg  # noqa: F401  (registers its rules)
from . import windows as _windows  # noqa: F401  (registers its rules)
from .fallback import (
    ConservativePatternWarning,
    SparsityFallbackWarning,
    dense_rule,
    fallback,
    is_inexact,
    note,
)
from .index_sets import Sets
from .linear_solve import custom_linear_solve
from .params import UnsupportedParams, num_eqns, scan_layout
from .rules import RULES, shape_of, size_of
from .state import state_eqn, touches_refs

__all__ = ["ConservativePatternWarning", "Context", "SparsityFallbackWarning", "eval_closed", "eval_jaxpr"]

# Known values larger than this are not computed at trace time.
_MAX_KNOWN_SIZE = 10_000_000


@dataclasses.dataclass
class Context:
    """Settings and records of one detection run."""

    # Scans with `length * len(body.eqns)` up to this are unrolled (exact, including
    # loop counters); longer ones use a fixed point over the carry.
    unroll_budget: int = 2000
    # While loops whose fixed point has not converged after this many sweeps make
    # every carry element depend on everything the loop can see.
    max_sweeps: int = 64
    warned: set = dataclasses.field(default_factory=set)
    # Primitives whose JVP is being analysed (a JVP containing its own primitive is
    # not analysed again: that equation is assumed dense).
    linearising: set = dataclasses.field(default_factory=set)
    # The equations (calls, control flow, JVPs being analysed) whose sub-jaxpr is being
    # interpreted, outermost first: source lines for warnings.
    sites: list = dataclasses.field(default_factory=list)
    # Conservative (dense) steps taken, with the user's source line, for error messages.
    events: list = dataclasses.field(default_factory=list)


_is_inexact = is_inexact


def _concrete(value) -> np.ndarray | None:
    if isinstance(value, jax.core.Tracer):
        return None
    try:
        return np.asarray(value)
    except Exception:
        return None


def _numpy_convert(eqn, vals) -> list | None:
    """`convert_element_type` of a known value in numpy, where numpy's cast is exact or
    rounds like XLA's (to a floating type): the common case (literals) costs no XLA
    compilation at trace time."""
    new = np.dtype(eqn.params["new_dtype"])
    old = np.asarray(vals[0])
    if not np.issubdtype(new, np.floating) or np.issubdtype(old.dtype, np.complexfloating):
        return None
    return [old.astype(new)]


_NUMPY_EVAL = {"convert_element_type": _numpy_convert}


def _try_eval(eqn, vals) -> list | None:
    """Evaluate an equation whose inputs are all known, at trace time."""
    if eqn.effects or sum(size_of(v) for v in eqn.outvars) > _MAX_KNOWN_SIZE:
        return None
    if eqn.primitive.name in _NUMPY_EVAL:
        try:
            out = _NUMPY_EVAL[eqn.primitive.name](eqn, vals)
        except (TypeError, ValueError):
            out = None
        if out is not None:
            return out
    try:
        with jax.ensure_compile_time_eval():
            out = eqn.primitive.bind(*[jnp.asarray(v) for v in vals], **eqn.params)
    except Exception:
        return None
    out = out if eqn.primitive.multiple_results else [out]
    return [_concrete(o) for o in out]


# -------------------------------------------------------------- interpreter


def eval_jaxpr(
    jaxpr: jex.Jaxpr,
    const_sets: Sequence[Sets],
    const_vals: Sequence[Any],
    in_sets: Sequence[Sets],
    in_vals: Sequence[Any],
    ncols: int,
    ctx: Context,
) -> tuple[list[Sets], list[Any]]:
    env_sets: dict = {}
    env_vals: dict = {}

    def read(v):
        if isinstance(v, jex.Literal):
            return None, np.asarray(v.val)
        return env_sets.get(v), env_vals.get(v)

    for var, s, val in zip(
        list(jaxpr.constvars) + list(jaxpr.invars),
        list(const_sets) + list(in_sets),
        list(const_vals) + list(in_vals),
    ):
        env_sets[var], env_vals[var] = s, val
    for eqn in jaxpr.eqns:
        sets, vals = zip(*map(read, eqn.invars)) if eqn.invars else ((), ())
        if touches_refs(eqn):  # mutable references: `state_eqn` updates their sets
            out_sets = state_eqn(eqn, list(sets), env_sets, ncols, ctx)
            out_vals = [None] * len(eqn.outvars)
        else:
            out_sets, out_vals = eval_eqn(eqn, list(sets), list(vals), ncols, ctx)
        for var, s, val in zip(eqn.outvars, out_sets, out_vals):
            env_sets[var], env_vals[var] = s, val
    out = [read(v) for v in jaxpr.outvars]
    return [o[0] for o in out], [o[1] for o in out]


def eval_closed(closed, in_sets, in_vals, ncols, ctx):
    """Like `eval_jaxpr` for a `ClosedJaxpr` (or a `Jaxpr` without constants)."""
    if isinstance(closed, jex.ClosedJaxpr):
        consts = [_concrete(c) for c in closed.consts]
        jaxpr = closed.jaxpr
    else:  # an open jaxpr (JAX 0.12 bodies); constants, if any, are unknown
        jaxpr = closed
        consts = [None] * len(jaxpr.constvars)
    return eval_jaxpr(jaxpr, [None] * len(consts), consts, in_sets, in_vals, ncols, ctx)


def eval_eqn(eqn, sets, vals, ncols, ctx):
    n = len(eqn.outvars)
    nothing = [None] * n
    if all(v is not None for v in vals):
        out_vals = _try_eval(eqn, vals)
        if out_vals is not None:
            return nothing, out_vals
    if all(s is None for s in sets) or not any(_is_inexact(v) for v in eqn.outvars):
        return nothing, nothing
    name = eqn.primitive.name
    out_vals = nothing
    try:
        if name in RULES:
            out_sets = RULES[name](eqn, sets, vals, ncols)
            _note_unknown_indices(eqn, sets, vals, ctx)
        elif name in _CONTROL or (sub := _call_jaxpr(eqn)) is not None:
            ctx.sites.append(eqn)
            try:
                if name in _CONTROL:
                    out_sets, out_vals = _CONTROL[name](eqn, sets, vals, ncols, ctx)
                else:
                    out_sets, out_vals = eval_closed(sub, sets, vals, ncols, ctx)
            finally:
                ctx.sites.pop()
        else:
            out_sets = fallback(eqn, sets, vals, ncols, ctx, eval_closed)
    except (UnsupportedParams, KeyError) as err:
        # A parameter layout this JAX line changed: stay sound.
        out_sets = dense_rule(eqn, sets, ncols, ctx, f"its parameters could not be read: {err!r}")
        out_vals = nothing
    out_sets = [s if _is_inexact(v) else None for s, v in zip(out_sets, eqn.outvars)]
    return out_sets, list(out_vals)


# Index operands (positions) of the primitives whose rule is exact only for known indices.
_INDEX_OPERANDS = {"gather": slice(1, 2), "dynamic_slice": slice(1, None), "dynamic_update_slice": slice(2, None)}


def _note_unknown_indices(eqn, sets, vals, ctx) -> None:
    """Record (for the summary warning) an indexing step whose indices are traced: its rule
    then assumes any element may be read or written (a superset)."""
    name = eqn.primitive.name
    where = _INDEX_OPERANDS.get(name, slice(1, 2) if name.startswith("scatter") else None)
    if where is None or not any(s is not None for s in sets):
        return
    if all(v is not None for v in vals[where]):
        return
    note(ctx, eqn, f"{name!r} with traced indices (any element may be read or written)")


def _call_jaxpr(eqn):
    """The sub-jaxpr of a call-like primitive (`jit`, `remat`, `custom_jvp_call`, ...)."""
    for value in eqn.params.values():
        if isinstance(value, jex.ClosedJaxpr):
            jaxpr = value.jaxpr
        elif isinstance(value, jex.Jaxpr) and not value.constvars:
            jaxpr = value
        else:
            continue
        if len(jaxpr.invars) != len(eqn.invars) or len(jaxpr.outvars) != len(eqn.outvars):
            continue
        same = all(
            shape_of(a) == shape_of(b)
            for a, b in zip(list(jaxpr.invars) + list(jaxpr.outvars),
                            list(eqn.invars) + list(eqn.outvars))
        )
        if same:
            return value
    return None


# -------------------------------------------------------------- control flow


def _cond(eqn, sets, vals, ncols, ctx):
    branches = eqn.params["branches"]
    if vals[0] is not None:
        branches = [branches[int(np.clip(int(vals[0]), 0, len(branches) - 1))]]
    out_sets, out_vals = None, None
    for branch in branches:
        s, v = eval_closed(branch, sets[1:], vals[1:], ncols, ctx)
        if out_sets is None:
            out_sets, out_vals = s, v
        else:
            out_sets = [ix.union(a, b) for a, b in zip(out_sets, s)]
            out_vals = [None] * len(s)
    return out_sets, out_vals


def _same(a: Sequence[Sets], b: Sequence[Sets]) -> bool:
    # Iterates grow monotonically, so equal sizes mean equal sets.
    return all(ix.nnz(x) == ix.nnz(y) for x, y in zip(a, b))


def _while_unrolled(eqn, sets, vals, ncols, ctx):
    """Exact: run the loop while its condition is known at trace time (a counter
    with known bounds). `None` if the condition becomes unknown or the budget ends."""
    p = eqn.params
    nc, nb = p["cond_nconsts"], p["body_nconsts"]
    cond, body = p["cond_jaxpr"], p["body_jaxpr"]
    steps = ctx.unroll_budget // max(num_eqns(body), 1)
    carry_s, carry_v = list(sets[nc + nb:]), list(vals[nc + nb:])
    for _ in range(steps + 1):
        _, (pred,) = eval_closed(cond, sets[:nc] + carry_s, vals[:nc] + carry_v, ncols, ctx)
        if pred is None:
            return None
        if not bool(pred):
            return carry_s, carry_v
        carry_s, carry_v = eval_closed(
            body, sets[nc: nc + nb] + carry_s, vals[nc: nc + nb] + carry_v, ncols, ctx
        )
    return None


def _while(eqn, sets, vals, ncols, ctx):
    unrolled = _while_unrolled(eqn, sets, vals, ncols, ctx)
    if unrolled is not None:
        return unrolled
    p = eqn.params
    nc, nb = p["cond_nconsts"], p["body_nconsts"]
    body = p["body_jaxpr"]
    bconst_s, bconst_v = sets[nc: nc + nb], vals[nc: nc + nb]
    carry = list(sets[nc + nb:])
    nk = len(carry)
    for _ in range(ctx.max_sweeps):
        out, _ = eval_closed(body, bconst_s + carry, bconst_v + [None] * nk, ncols, ctx)
        new = [ix.union(a, b) for a, b in zip(carry, out)]
        if _same(new, carry):
            return carry, [None] * nk
        carry = new
    # Not converged: a carry element may depend on anything the loop sees.
    cols = ix.all_columns(list(bconst_s) + carry)
    return [ix.broadcast_columns(cols, size_of(v), ncols) for v in eqn.outvars], [None] * nk


def _scan(eqn, sets, vals, ncols, ctx):
    p = eqn.params
    scan_layout(eqn)  # fails early (-> dense) on an unknown parameter layout
    if p["length"] * max(num_eqns(p["jaxpr"]), 1) <= ctx.unroll_budget:
        return _scan_unrolled(eqn, sets, vals, ncols, ctx)
    return _scan_fixed_point(eqn, sets, vals, ncols, ctx), [None] * len(eqn.outvars)


def _scan_unrolled(eqn, sets, vals, ncols, ctx):
    p = eqn.params
    body = p["jaxpr"]
    length, (nconst, ncarry) = p["length"], scan_layout(eqn)
    consts_s, consts_v = sets[:nconst], vals[:nconst]
    carry_s, carry_v = list(sets[nconst: nconst + ncarry]), list(vals[nconst: nconst + ncarry])
    xs_vars, xs_s, xs_v = eqn.invars[nconst + ncarry:], sets[nconst + ncarry:], vals[nconst + ncarry:]
    ys_vars = eqn.outvars[ncarry:]
    ys_s = [[None] * length for _ in ys_vars]
    ys_v = [[None] * length for _ in ys_vars]
    order = range(length - 1, -1, -1) if p["reverse"] else range(length)
    for t in order:
        x_s, x_v = [], []
        for var, s, v in zip(xs_vars, xs_s, xs_v):
            m = size_of(var) // max(length, 1)
            x_s.append(ix.take(s, np.arange(t * m, (t + 1) * m)))
            x_v.append(None if v is None else np.asarray(v)[t])
        out_s, out_v = eval_closed(
            body, consts_s + carry_s + x_s, consts_v + carry_v + x_v, ncols, ctx
        )
        carry_s, carry_v = out_s[:ncarry], out_v[:ncarry]
        for k in range(len(ys_vars)):
            ys_s[k][t] = out_s[ncarry + k]
            ys_v[k][t] = out_v[ncarry + k]
    stacked_s, stacked_v = [], []
    for var, s_list, v_list in zip(ys_vars, ys_s, ys_v):
        m = size_of(var) // max(length, 1)
        stacked_s.append(ix.vstack(s_list, [m] * length, ncols))
        known = length > 0 and all(v is not None for v in v_list)
        stacked_v.append(np.stack(v_list) if known else None)
    return list(carry_s) + stacked_s, list(carry_v) + stacked_v


def _scan_fixed_point(eqn, sets, vals, ncols, ctx) -> list[Sets]:
    """Fixed point over the carry; per-iteration inputs get fresh "local" columns.

    The body sees `xs[t]` through columns `ncols..ncols+M` (M = elements of one
    slice), so a body output's dependence on its own slice is kept exactly and
    mapped back per iteration (`ys[t]` depends on `xs[t]`, not on all of `xs`).
    """
    p = eqn.params
    body = p["jaxpr"]
    length, (nconst, ncarry) = p["length"], scan_layout(eqn)
    xs_vars, xs_s = eqn.invars[nconst + ncarry:], sets[nconst + ncarry:]
    slice_sizes = [size_of(v) // max(length, 1) for v in xs_vars]
    offsets = np.concatenate([[0], np.cumsum(slice_sizes)]).astype(np.int64)
    nloc = int(offsets[-1])
    ext = ncols + nloc
    x_local = [
        None if s is None else ix.identity(m, ext, ncols + int(o))
        for s, m, o in zip(xs_s, slice_sizes, offsets)
    ]
    # Slice element q of xs k, at iteration t, is row t*m + q of xs_s[k];
    # in the stacked basis below it is row row0[k] + t*m + q.
    basis = ix.vstack(list(xs_s), [size_of(v) for v in xs_vars], ncols)
    row0 = np.concatenate([[0], np.cumsum([size_of(v) for v in xs_vars])]).astype(np.int64)
    union_rows = [  # union over iterations of each slice element
        ix.group_union(s, np.arange(length * m), np.arange(length * m) % max(m, 1), m)
        for s, m in zip(xs_s, slice_sizes)
    ]
    union_basis = ix.vstack(union_rows, slice_sizes, ncols)

    def to_global(s: Sets) -> Sets:
        head, tail = ix.split_columns(s, ncols)
        return ix.union(head, ix.compose(tail, union_basis))

    consts = [ix.resize(s, ext) for s in sets[:nconst]]
    consts_v = list(vals[:nconst])
    carry = list(sets[nconst: nconst + ncarry])
    for _sweep in range(max(length, 1)):
        out, _ = eval_closed(
            body,
            consts + [ix.resize(c, ext) for c in carry] + x_local,
            consts_v + [None] * (ncarry + len(xs_vars)),
            ext,
            ctx,
        )
        new = [ix.union(c, to_global(o)) for c, o in zip(carry, out[:ncarry])]
        done = _same(new, carry)
        carry = new
        if done:
            break
    ys = []
    for var, y in zip(eqn.outvars[ncarry:], out[ncarry:]):
        m = size_of(var) // max(length, 1)
        head, tail = ix.split_columns(y, ncols)
        per_iter = ix.take(head, np.tile(np.arange(m), length))
        if tail is not None:
            coo = tail.tocoo()
            r, c = coo.row.astype(np.int64), coo.col.astype(np.int64)
            k = np.searchsorted(offsets, c, side="right") - 1
            q = c - offsets[k]
            t = np.arange(length, dtype=np.int64)[:, None]
            dst = (t * m + r).ravel()
            src = (row0[k] + t * np.asarray(slice_sizes, np.int64)[k] + q).ravel()
            per_iter = ix.union(per_iter, ix.group_union(basis, src, dst, length * m))
        ys.append(per_iter)
    return carry + ys


def _linear_solve(eqn, sets, vals, ncols, ctx):
    return custom_linear_solve(eqn, sets, vals, ncols, ctx, eval_closed), [None] * len(eqn.outvars)


_CONTROL = {"cond": _cond, "while": _while, "scan": _scan, "custom_linear_solve": _linear_solve}
