"""Sparse Jacobians of matrix-free operators.

optimistix (`Newton`, `Chord`) and diffrax implicit solvers (`Kvaerno*`, `KenCarp*`,
`ImplicitEuler`, through `VeryChord`/`Newton`) hand their linear solver a
`lx.FunctionLinearOperator` or `lx.JacobianLinearOperator`, whose `as_matrix()` is
dense. This module turns such an operator into a [`nativax.SparseOperator`][] in
three steps:

1. **Detection**: [`nativax.sparsity.jacobian_sparsity`][] traces the function to a
    jaxpr and propagates, primitive by primitive, the set of inputs every element
    depends on (index-set propagation). The result always contains the true
    pattern: a primitive without a rule is analysed through its JVP or, failing
    that, assumed dense, with a warning naming the line of user code.
2. **Coloring**: [`nativax.sparsity.color_columns`][] groups columns that share no
    row (greedy distance-2 coloring, DSATUR order).
3. **Compression**: one JVP per color, with the seed "sum of the basis vectors of
    that color", then each nonzero is read off its color's product.

Steps 1-2 run once per function structure and are cached; step 3 is traced, so it
works under `jit`, `vmap` and autodiff.

!!! warning "Assumption"

    The pattern is *structural*: it must not depend on the values of traced
    inputs. Values known at trace time (Python/numpy constants) are used to sharpen
    it (e.g. gather indices, `jnp.where` masks). A function whose Jacobian pattern
    changes with its traced inputs (e.g. data-dependent indexing) gets a
    conservative superset; pass `pattern=` when you know better.
"""

from ._sparsity.coloring import (
    color_columns,
    color_rows,
    color_star,
    is_valid_coloring,
    is_valid_star_coloring,
    lower_bound,
    star_recovery,
)
from ._sparsity.detect import (
    clear_cache,
    colors_for,
    jacobian_sparsity,
    materialise,
    to_sparse_operator,
)
from ._sparsity.hessian import hessian, hessian_sparsity
from ._sparsity.interpreter import ConservativePatternWarning, SparsityFallbackWarning

__all__ = [
    "ConservativePatternWarning",
    "SparsityFallbackWarning",
    "clear_cache",
    "color_columns",
    "color_rows",
    "color_star",
    "colors_for",
    "hessian",
    "hessian_sparsity",
    "is_valid_coloring",
    "is_valid_star_coloring",
    "jacobian_sparsity",
    "lower_bound",
    "materialise",
    "star_recovery",
    "to_sparse_operator",
]
