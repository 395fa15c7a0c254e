"""The cheap check of a user-given `pattern=`: one product with a fixed random vector.

Materialising an operator on a pattern that misses true entries gives wrong values
(the lost entries land on others of the same color, or vanish), and a solver then
returns a wrong answer with no sign of it. Comparing `operator.mv(v)` with the
sparse product of the materialised values for one fixed random `v > 0` catches a
missing entry unless its contribution cancels exactly (or is below rounding), at
the cost of one extra JVP. Inside `jit` the error is raised through
`equinox.error_if`.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np

from .._core import packing
from .._core.pattern import SparsityPattern

_MESSAGE = (
    "nativax: the operator has nonzero entries outside the sparsity pattern given as `pattern=` "
    "(e.g. nativax.KLU(pattern=...) or to_sparse_operator(op, pattern=...)): a product with a random "
    "vector differs from the sparse matrix built on that pattern, so a solve would return a wrong "
    "answer. Pass a pattern that contains every structural nonzero (for a function f: "
    "nativax.sparsity.jacobian_sparsity(lambda y: f(y, args), y0)), or leave `pattern=` out to detect it."
)


def _tolerance(dtype) -> float:
    return 1000.0 * float(jnp.finfo(dtype).eps)


def check_pattern(operator: lx.AbstractLinearOperator, values: jax.Array, pattern: SparsityPattern) -> jax.Array:
    """`values`, with a (runtime) error attached if `operator` is not contained in `pattern`."""
    m, n = pattern.shape
    if pattern.nnz == 0 and (m == 0 or n == 0):
        return values
    packed = packing.pack(operator)
    in_dtype = packing.promote(*[s.dtype for s in jax.tree_util.tree_leaves(operator.in_structure())])
    v = jnp.asarray(np.random.default_rng(20_181).uniform(0.5, 1.5, n)).astype(in_dtype)
    exact = packing.ravel(operator.mv(packing.unravel(v, packed)), packed, "pattern check")
    dtype = packing.promote(values.dtype, exact.dtype, v.dtype)
    vals, exact, v = values.astype(dtype), exact.astype(dtype), v.astype(dtype)
    rows, cols = jnp.asarray(pattern.rows), jnp.asarray(pattern.cols)
    approx = jax.ops.segment_sum(vals * v[cols], rows, num_segments=m)
    scale = jax.ops.segment_sum(jnp.abs(vals) * jnp.abs(v[cols]), rows, num_segments=m) + jnp.abs(exact)
    tiny = float(jnp.finfo(dtype).tiny)
    bad = jnp.any(jnp.abs(exact - approx) > _tolerance(dtype) * scale + tiny)
    return eqx.error_if(values, jax.lax.stop_gradient(bad), _MESSAGE)
