"""Sparse Hessians of scalar functions: pattern detection, star coloring, Hessian-vector products.

The Hessian's pattern is the Jacobian pattern of the gradient function (detected by the
same jaxpr interpreter as `jacobian_sparsity`), symmetrized. A star coloring of it
(`nativax.sparsity.color_star`) groups the columns; one forward-over-reverse
Hessian-vector product per color, batched with `jax.vmap`, gives the compressed
Hessian, and symmetry lets every nonzero be read directly off it.
"""

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np
from jax.flatten_util import ravel_pytree
from jaxtyping import PyTree

from .._core.operator import SparseOperator
from .._core.pattern import SparsityPattern
from . import detect as _jac
from .interpreter import Context
from .seeds import gather_index, seed_matrix


def _check_fn(fn: Any, x: PyTree, who: str) -> None:
    if not callable(fn):
        raise TypeError(f"{who}: `fn` must be callable, got {type(fn).__name__}")
    leaves = jax.tree_util.tree_leaves(x)
    if not leaves or not all(jnp.issubdtype(jnp.result_type(leaf), jnp.floating) for leaf in leaves):
        raise TypeError(
            f"{who}: `x` must be a real floating array or a pytree of them (the Hessian of a real scalar "
            f"function), got dtypes {[str(jnp.result_type(v)) for v in leaves]}"
        )


def _scalar(fn: Callable, who: str) -> Callable:
    def checked(x, *args):
        out = fn(x, *args)
        if jnp.shape(out) != () or not jnp.issubdtype(jnp.result_type(out), jnp.floating):
            raise TypeError(
                f"{who}: `fn` must return a real scalar, got shape {jnp.shape(out)} and dtype "
                f"{jnp.result_type(out)}"
            )
        return out

    return checked


def _gradient_trace(fn: Callable, x: PyTree, args: tuple):
    """Traces `grad(fn)(x, *args)` with the floating-point arrays of `args` as unknown inputs (so one
    detection serves all their values); other leaves stay concrete. Falls back to concrete `args`."""
    floats, rest = eqx.partition(args, _jac._is_float_leaf)

    def grad_fn(x, floats):
        return jax.grad(fn)(x, *eqx.combine(floats, rest))

    try:
        return _jac._trace(grad_fn, x, floats)
    except (jax.errors.ConcretizationTypeError, jax.errors.TracerBoolConversionError, ValueError):
        return _jac._trace(lambda x, _: jax.grad(fn)(x, *args), x)


def _hessian_pattern(fn: Callable, x: PyTree, args: tuple, unroll_budget: int) -> SparsityPattern:
    closed, in_structs, out_structs, nx = _gradient_trace(fn, x, args)
    key = (
        "hessian_pattern",
        _jac._fingerprint(closed),
        nx,
        unroll_budget,
        tuple((s.shape, str(s.dtype)) for s in in_structs),
    )
    return _jac._cached(
        key, lambda: _jac._symmetrize(_jac._detect(closed, in_structs, out_structs, Context(unroll_budget=unroll_budget), nx))
    )


def hessian_sparsity(fn: Callable, x: PyTree, *args: Any, unroll_budget: int = 2000) -> SparsityPattern:
    """Sparsity pattern of the Hessian of the scalar function `fn(x, *args)` with respect to `x`.

    Detected as the Jacobian pattern of `jax.grad(fn)` (see
    [`nativax.sparsity.jacobian_sparsity`][]; a structural superset), made symmetric.
    `x` is an array or a pytree of real arrays (flattened in leaf order);
    floating-point arrays in `args` are treated as unknown values, so the pattern (and
    its cache entry) holds for all of them.

    **Returns:**

    A symmetric `(n, n)` [`nativax.SparsityPattern`][], `n` the total size of `x`.
    """
    _check_fn(fn, x, "hessian_sparsity")
    if isinstance(unroll_budget, bool) or not isinstance(unroll_budget, int) or unroll_budget < 0:
        raise ValueError(f"hessian_sparsity: `unroll_budget` must be an int >= 0, got {unroll_budget!r}")
    return _hessian_pattern(_scalar(fn, "hessian_sparsity"), x, args, unroll_budget)


def hessian(
    fn: Callable, x: PyTree, *args: Any, pattern: SparsityPattern | None = None
) -> SparseOperator:
    """The Hessian of the scalar function `fn(x, *args)` with respect to `x`, as a sparse operator.

    Costs one Hessian-vector product (forward-over-reverse: a JVP of `jax.grad(fn)`)
    per color of a star coloring of the Hessian's pattern, batched with `jax.vmap`,
    instead of `n`. Works inside `jit` and is differentiable with respect to `x` and
    `args`. The pattern and coloring are detected once per function structure and
    cached (like the Jacobian path of `to_sparse_operator`).

    **Arguments:**

    - `fn`: a function returning a real scalar.
    - `x`: the point: a real array or a pytree of real arrays (flattened in leaf order).
    - `*args`: further arguments of `fn` (not differentiated).
    - `pattern`: the Hessian's pattern, if known (skips detection; it must contain every
        structural nonzero and is symmetrized).

    **Returns:**

    A [`nativax.SparseOperator`][] tagged `lx.symmetric_tag`, ready for
    `lx.linear_solve(H, b, nativax.KLU())`.
    """
    _check_fn(fn, x, "hessian")
    fn = _scalar(fn, "hessian")
    flat, unravel = ravel_pytree(x)
    n = flat.shape[0]
    if pattern is None:
        pattern = _hessian_pattern(fn, x, args, 2000)
    elif not isinstance(pattern, SparsityPattern):
        raise TypeError(f"hessian: `pattern` must be a SparsityPattern, got {type(pattern).__name__}")
    elif pattern.shape != (n, n):
        raise ValueError(f"hessian: `pattern` has shape {pattern.shape}, the Hessian is {(n, n)}")
    else:
        pattern = _jac._symmetrize(pattern)
    colors, positions = _jac._star(pattern)
    values = compressed_symmetric(lambda v: ravel_pytree(jax.grad(fn)(unravel(v), *args))[0], flat, colors, positions)
    return SparseOperator(values, pattern, frozenset({lx.symmetric_tag}))


def compressed_symmetric(grad_fn: Callable, x: jax.Array, colors: np.ndarray, positions: np.ndarray) -> jax.Array:
    """Values of the Jacobian of `grad_fn` at `x` (a symmetric matrix) from one JVP per star color."""
    seeds = seed_matrix(colors, x.dtype)
    _, jvp = jax.linearize(grad_fn, x)
    compressed = jax.vmap(jvp)(seeds)  # (ncolors, n)
    return compressed.reshape(-1)[gather_index(positions, compressed.size)]
