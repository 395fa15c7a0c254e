"""Values of a jaxpr's traced constants that are known at trace time anyway.

optimistix and diffrax hand a solver `lx.linearise(JacobianLinearOperator(...))`,
built inside `jit`. There `jax.linearize` evaluates the primal computation in the
enclosing trace, so everything the tangent computation needs from it (the index
arrays of `u[idx]`, `.at[idx].set`, `jnp.take`, the masks of a scatter's JVP, the
start of a `dynamic_update_slice`) reaches the linear function as a *residual*: a
tracer of the enclosing `jit`, even when it was computed from constants only.
Treated as unknown, such an index makes a gather row-dense and a scatter dense.

This module recovers those values soundly: a residual is known when the equations
that produced it in the enclosing trace (followed back through each tracer's
producing equation) start from constants only; it is then evaluated at trace time,
equation by equation. Anything that reaches an input of the enclosing `jit` (the
solver's state, `y`, `args`), an effect, or a large value stays unknown, so a
truly traced index keeps its conservative treatment.

The walk reads `tracer.parent` (the equation that produced a `jit` tracer) and
`tracer.val` (its variable), which both supported JAX lines have; where they are
missing, every traced constant stays unknown (the previous, conservative
behaviour).
"""

import weakref
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np

# Equations visited per detection before giving up (unknown, i.e. conservative).
_MAX_VISITS = 20_000
_PENDING = object()


def _const_of(tracer) -> Any:
    """The value a tracer stands for, if it is a constant of its trace: an array, or a
    tracer of an enclosing trace (a value a loop body or `jit` closed over)."""
    get = getattr(tracer, "get_const", None)
    if get is None:
        return None
    try:
        value = get()
    except Exception:
        return None
    if value is None or isinstance(value, jax.core.Tracer):
        return value
    try:
        return np.asarray(value)
    except Exception:
        return None


def _parent(tracer):
    parent = getattr(tracer, "parent", None)
    if isinstance(parent, weakref.ref):
        parent = parent()
    if parent is None or not all(hasattr(parent, a) for a in ("primitive", "params", "in_tracers", "outvars")):
        return None
    return parent


class _Resolver:
    def __init__(self) -> None:
        self.memo: dict[int, Any] = {}  # id(tracer) -> value or None
        self.keep: list = []  # keeps memoised tracers alive (ids stay unique)
        self.visits = 0

    def value(self, root) -> np.ndarray | None:
        from .interpreter import (  # circular at import time
            Context,
            _call_jaxpr,
            _try_eval,
            eval_closed,
        )

        stack = [root]
        while stack:
            t = stack[-1]
            if id(t) in self.memo:
                stack.pop()
                continue
            if not isinstance(t, jax.core.Tracer):
                self._set(t, np.asarray(t))
                stack.pop()
                continue
            const = _const_of(t)
            if isinstance(const, jax.core.Tracer):  # closed over from an enclosing trace
                if id(const) in self.memo:
                    self._set(t, self.memo[id(const)])
                    stack.pop()
                else:
                    stack.append(const)
                continue
            parent = None if const is not None else _parent(t)
            if const is not None or parent is None or self.visits > _MAX_VISITS or parent.effects:
                self._set(t, const)
                stack.pop()
                continue
            ins = [self.memo.get(id(x), _PENDING) for x in parent.in_tracers]
            sub = _call_jaxpr(parent)
            if sub is None and any(v is None for v in ins):  # unknown input: unknown, look no further
                stack.pop()
                self._set(t, None)
                continue
            pending = next((x for x, v in zip(parent.in_tracers, ins) if v is _PENDING), None)
            if pending is not None:
                self.visits += 1
                stack.append(pending)
                continue
            stack.pop()
            if all(v is not None for v in ins):
                outs = _try_eval(parent, ins)
            else:  # a call (`jit`) with some inputs known: its known outputs, equation by equation
                _, outs = eval_closed(sub, [None] * len(ins), ins, 0, Context())
            var = getattr(t, "val", None)
            index = next((i for i, v in enumerate(parent.outvars) if v is var), None)
            self._set(t, None if outs is None or index is None else outs[index])
        return self.memo[id(root)]

    def _set(self, t, value):
        self.memo[id(t)] = value
        self.keep.append(t)


def _structural(tracer) -> bool:
    """Integer and boolean residuals (indices, masks, slice starts) carry the structure;
    floating ones are the Jacobian's values and stay unknown, so that a value known in
    one trace but not in another (diffrax traces a stage twice) cannot change the
    pattern."""
    dtype = getattr(getattr(tracer, "aval", None), "dtype", None)
    try:
        return dtype is not None and bool(np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.bool_))
    except TypeError:
        return False


def known_values(consts: Sequence[Any]) -> list[np.ndarray | None]:
    """For each constant of a closed jaxpr: its value if known at trace time, else `None`."""
    resolver = _Resolver()
    out: list[np.ndarray | None] = []
    for c in consts:
        if isinstance(c, jax.core.Tracer) and not _structural(c):
            out.append(None)
            continue
        try:
            out.append(resolver.value(c))
        except Exception:  # an unexpected tracer layout: stay conservative
            out.append(None)
    return out
