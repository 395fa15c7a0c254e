"""Pytree vectors in and out of nativax's flat solvers, with lineax's own packing.

A solver's state keeps `pack(operator)` (lineax's `pack_structures`: the operator's output and input
structures); `ravel` flattens a right-hand side shaped like the output structure, `unravel` turns the flat
solution back into the input structure, and `transpose` swaps them for the transposed solve. The flat order is
lineax's (pytree-leaf order, each leaf raveled), which is also the order `nativax.sparsity` uses for the
Jacobian's rows and columns.

Two additions over `lineax.internal`: leaves of different dtypes are promoted explicitly (so this works under
`jax_numpy_dtype_promotion="strict"`), and a direct `solver.compute` call whose vector matches the structure
in shapes but not in dtype (e.g. a complex right-hand side for a real matrix) is accepted and keeps its dtype.
"""

import functools as ft
import math

import jax
import jax.numpy as jnp
import jax.tree_util as jtu
import lineax as lx
from jaxtyping import Array, PyTree, Shaped
from lineax.internal import (
    PackedStructures,
    pack_structures,
    transpose_packed_structures,
    unravel_solution,
)

__all__ = ["PackedStructures", "pack", "promote", "ravel", "transpose", "unravel", "flat_size"]


def promote(*dtypes) -> jnp.dtype:
    """JAX's standard promotion of `dtypes`, applied explicitly: nativax's functions document how mixed
    inputs combine (e.g. a complex right-hand side for a real matrix), and that holds under
    `jax_numpy_dtype_promotion="strict"` too."""
    with jax.numpy_dtype_promotion("standard"):
        dtype = ft.reduce(jnp.promote_types, dtypes)
    return jnp.dtype(jax.dtypes.canonicalize_dtype(dtype))


def pack(operator: lx.AbstractLinearOperator) -> PackedStructures:
    """The operator's (output, input) structures, in the hashable form solver states hold."""
    return pack_structures(operator)


def transpose(packed: PackedStructures) -> PackedStructures:
    """The structures of the transposed operator (output and input swapped)."""
    return transpose_packed_structures(packed)


def _structures(packed: PackedStructures):
    leaves, treedef = packed.value
    return jtu.tree_unflatten(treedef, leaves)


def flat_size(structure: PyTree[jax.ShapeDtypeStruct]) -> int:
    """Number of scalars in a structure (the length of its raveled vector)."""
    return sum(math.prod(s.shape) for s in jtu.tree_leaves(structure))


def _describe(structure) -> str:
    return str(jtu.tree_map(lambda s: f"{s.dtype}{list(s.shape)}", structure))


def ravel(vector: PyTree[Array], packed: PackedStructures, who: str) -> Shaped[Array, " size"]:
    """Flatten `vector` (shaped like the operator's output structure) to one 1-D array."""
    out_structure, _ = _structures(packed)
    got = jax.eval_shape(lambda: vector)
    same_tree = jtu.tree_structure(got) == jtu.tree_structure(out_structure)  # type: ignore[operator]
    if not same_tree or any(
        g.shape != s.shape for g, s in zip(jtu.tree_leaves(got), jtu.tree_leaves(out_structure))
    ):
        raise ValueError(
            f"{who}: `vector` must have the operator's output structure {_describe(out_structure)}, "
            f"got {_describe(got)}"
        )
    leaves = [jnp.asarray(x) for x in jtu.tree_leaves(vector)]
    dtypes = {x.dtype for x in leaves}
    # Tree, shapes (and below dtypes) are checked above; shardings are not compared (lineax's `ravel_vector`
    # would): on a mesh with Explicit axes a vector's type carries its sharding, which is layout, not structure.
    dtype = promote(*dtypes)
    return jnp.concatenate([x.astype(dtype).reshape(-1) for x in leaves])


def unravel(solution: Shaped[Array, " size"], packed: PackedStructures) -> PyTree[Array]:
    """The flat `solution` as a pytree shaped like the operator's input structure (lineax's casts to the
    structure's dtypes; a complex solution of a real structure, from a direct `compute` call with a complex
    right-hand side, stays complex)."""
    _, in_structure = _structures(packed)
    leaves = jtu.tree_leaves(in_structure)
    if jnp.iscomplexobj(solution) and not any(jnp.issubdtype(s.dtype, jnp.complexfloating) for s in leaves):
        sizes = [math.prod(s.shape) for s in leaves]
        parts = jnp.split(solution, list(_cumsum(sizes[:-1])))
        shaped = [p.reshape(s.shape).astype(promote(s.dtype, solution.dtype)) for p, s in zip(parts, leaves)]
        return jtu.tree_unflatten(jtu.tree_structure(in_structure), shaped)
    return unravel_solution(solution, packed)


def _cumsum(sizes: list[int]) -> list[int]:
    out, total = [], 0
    for k in sizes:
        total += k
        out.append(total)
    return out
