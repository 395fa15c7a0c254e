"""What detection does for a primitive without a rule, soundly.

The detected pattern must contain every true nonzero. Probing a primitive's dense
Jacobian at random points cannot promise that (a value-dependent selection such as
`reduce_window_max` picks different elements at other points, and unknown integer
operands would have to be guessed), so nativax does not probe. Instead:

1. **Through its JVP.** The primitive's JVP is traced to a jaxpr (primal operands
    abstract, tangents seeded with the operands' index sets) and that jaxpr is
    interpreted with the ordinary rules. Every rule is conservative where a value is
    unknown, so the result is a superset, and it is exact whenever the JVP is made of
    structural primitives. A primitive whose JVP contains itself (a linear primitive)
    cannot be analysed this way.
2. **Dense.** Otherwise every output element depends on every column any operand
    depends on.

Both cases warn once per primitive per detection with the user's source line; a
dense block big enough to fill memory raises instead, asking for `pattern=`.
"""

import os
import sysconfig
import warnings
from collections.abc import Callable

import jax
import jax.numpy as jnp

from . import index_sets as ix
from .index_sets import Sets
from .rules import shape_of, size_of


class SparsityFallbackWarning(UserWarning):
    """A primitive had no sparsity rule: its pattern was derived from its JVP or,
    when that was not possible, assumed dense."""


class ConservativePatternWarning(UserWarning):
    """Detection took conservative steps (traced indices, a primitive without an exact rule), so the
    pattern may hold more entries than the true one; the message lists the steps with their source lines
    and the remedy (`pattern=`)."""


def is_inexact(var) -> bool:
    dtype = getattr(var.aval, "dtype", None)
    if dtype is None:
        return False
    try:
        return bool(jnp.issubdtype(dtype, jnp.inexact))
    except TypeError:
        return False


# ------------------------------------------------------------- source lines


def _library_roots() -> tuple[str, ...]:
    roots = {os.path.dirname(os.path.dirname(os.path.abspath(__file__)))}  # nativax
    roots.add(os.path.dirname(os.path.abspath(jax.__file__)))
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        path = sysconfig.get_paths().get(key)
        if path:
            roots.add(os.path.abspath(path))
    return tuple(sorted(roots))


_LIBRARY_ROOTS = _library_roots()


def _is_library(path: str) -> bool:
    path = os.path.abspath(path)
    return ("site-packages" in path or "dist-packages" in path
            or any(path.startswith(root + os.sep) for root in _LIBRARY_ROOTS))


def source_line(eqn) -> str | None:
    """`file:line (function)` of the innermost user frame that emitted `eqn`, if its
    traceback has one (library frames — JAX, nativax, the standard library,
    site-packages such as equinox, lineax, diffrax — are skipped)."""
    try:
        frames = list(eqn.source_info.traceback.frames)
    except Exception:
        return None
    for frame in frames:
        if not _is_library(frame.file_name):
            return f"{frame.file_name}:{frame.line_num} ({frame.function_name})"
    return None


def _where(eqn, ctx) -> str:
    # Equations inside a jitted library function (e.g. `jnp.cumsum`) or inside a JVP
    # nativax traced keep no user frame: name the line of the enclosing call.
    for candidate in [eqn, *reversed(ctx.sites)]:
        line = source_line(candidate)
        if line:
            return f" at {line}"
    return ""


# ----------------------------------------------------------------- fallback


def _dense(eqn, sets, ncols, ctx) -> list[Sets]:
    cols = ix.all_columns(sets)
    entries = sum(size_of(v) for v in eqn.outvars if is_inexact(v)) * int(cols.size)
    if entries > ix.MAX_FALLBACK_ENTRIES:
        raise ValueError(
            f"nativax.sparsity: primitive {eqn.primitive.name!r}{_where(eqn, ctx)} has no sparsity rule "
            f"and had to be assumed dense: {entries} entries (more than "
            f"{ix.MAX_FALLBACK_ENTRIES}), which would make the Jacobian pattern (nearly) dense and "
            "fill memory. Pass `pattern=` (the known Jacobian sparsity) to skip detection, or "
            "rewrite that line with jax.numpy/lax operations nativax has rules for."
        )
    return [ix.broadcast_columns(cols, size_of(v), ncols) for v in eqn.outvars]


def _warn(ctx, eqn, how: str, reason: str = "") -> None:
    name = eqn.primitive.name
    if (name, how) in ctx.warned:
        return
    ctx.warned.add((name, how))
    where = _where(eqn, ctx)
    if how == "jvp":
        text = (f"nativax.sparsity: no sparsity rule for primitive {name!r}{where}; its pattern was "
                "derived from its JVP (a superset of the true pattern).")
    else:
        text = (f"nativax.sparsity: primitive {name!r}{where} is ASSUMED DENSE ({reason}): every "
                "output element depends on every input it sees. Pass `pattern=` to skip "
                "detection if you know the Jacobian is sparser.")
    ctx.events.append(text)
    warnings.warn(text, SparsityFallbackWarning, stacklevel=2)


def note(ctx, eqn, what: str) -> None:
    """Record a conservative step (once per primitive and line) for the summary that
    detection gives when its result may be larger than the true pattern."""
    text = f"{what}{_where(eqn, ctx)}"
    if text not in ctx.events:
        ctx.events.append(text)


def _jvp_jaxpr(eqn, live: list[int]):
    """The jaxpr of `(primals..., live tangents...) -> output tangents` of `eqn`."""
    structs = [jax.ShapeDtypeStruct(shape_of(v), v.aval.dtype) for v in eqn.invars]
    multiple = eqn.primitive.multiple_results

    def tangents_out(*args):
        primals, tangents = list(args[: len(structs)]), args[len(structs):]

        def f(*xs):
            full = list(primals)
            for i, x in zip(live, xs):
                full[i] = x
            out = eqn.primitive.bind(*full, **eqn.params)
            return list(out) if multiple else [out]

        _, out = jax.jvp(f, [primals[i] for i in live], list(tangents))
        return out

    return jax.make_jaxpr(tangents_out)(*structs, *[structs[i] for i in live])


class _Recursion(Exception):
    """The JVP of a primitive being analysed contains that primitive again."""

    def __init__(self, name: str):
        super().__init__(name)
        self.name = name


def fallback(eqn, sets, vals, ncols, ctx, evaluate: Callable) -> list[Sets]:
    """Index sets of the outputs of `eqn`, whose primitive has no rule (see module doc)."""
    name = eqn.primitive.name
    if name in ctx.linearising:
        raise _Recursion(name)
    live = [i for i, (v, s) in enumerate(zip(eqn.invars, sets)) if s is not None and is_inexact(v)]
    try:
        closed = _jvp_jaxpr(eqn, live)
    except Exception:
        closed = None
    if closed is not None and len(closed.jaxpr.outvars) == len(eqn.outvars):
        ctx.linearising.add(name)
        ctx.sites.append(eqn)
        try:
            in_sets = [None] * len(eqn.invars) + [sets[i] for i in live]
            in_vals = list(vals) + [None] * len(live)
            out_sets, _ = evaluate(closed, in_sets, in_vals, ncols, ctx)
        except _Recursion as err:
            if err.name != name:
                raise
            out_sets = None
        finally:
            ctx.linearising.discard(name)
            ctx.sites.pop()
        if out_sets is not None:
            _warn(ctx, eqn, "jvp")
            return [ix.resize(s, ncols) if s is not None else None for s in out_sets]
        reason = "it has no sparsity rule and is linear (its JVP is itself)"
    else:
        reason = "it has no sparsity rule and no JVP that could be traced"
    _warn(ctx, eqn, "dense", reason)
    return _dense(eqn, sets, ncols, ctx)


def dense_rule(eqn, sets, ncols, ctx, reason: str) -> list[Sets]:
    """Every output depends on everything (a rule that cannot do better), with a warning."""
    _warn(ctx, eqn, "dense", reason)
    return _dense(eqn, sets, ncols, ctx)

