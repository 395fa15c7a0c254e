"""`ShardedMatrixOperator`: a lineax matrix operator whose vector structures carry their sharding.

Why it exists: on a mesh with Explicit axes (the default of `jax.make_mesh` since JAX 0.7), every array's
type carries its sharding, so ``jax.eval_shape`` of a right-hand side sharded over the mesh returns a
``ShapeDtypeStruct`` *with* a ``NamedSharding``. `lineax.MatrixLinearOperator.out_structure()` builds its
structure from the matrix's shape and dtype only (no sharding), and `lineax.linear_solve` compares the two
with ``==`` before any solver runs: "Vector and operator structures do not match", whatever the solver.
This operator reports the structure a vector of the matrix's layout actually has (that of one column of the
matrix, e.g. ``P("x")`` for a matrix sharded ``P("x", None)``), so the check passes; on Auto meshes and
unsharded matrices it is exactly `lineax.MatrixLinearOperator`.
"""

from __future__ import annotations

import jax
import lineax as lx


def _vector_structure(matrix, axis: int) -> jax.ShapeDtypeStruct:
    index = (slice(None), 0) if axis == 0 else (0, slice(None))
    s = jax.eval_shape(lambda m: m[index], matrix)
    return jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=s.sharding)  # no weak type, like lineax's


class ShardedMatrixOperator(lx.MatrixLinearOperator):
    """`lineax.MatrixLinearOperator` for a sharded matrix on a mesh with Explicit axes.

    Use it instead of `lineax.MatrixLinearOperator` when the matrix lives on a mesh made by
    `jax.make_mesh` with its default (Explicit) axis types; with Auto axes both are the same. The output
    structure is that of one column of the matrix (for a matrix sharded ``P("x", None)``: a vector sharded
    ``P("x")``); for a square matrix the input structure is the same (the solution of ``A x = b`` is laid
    out like ``b``), else that of one row. Right-hand sides passed to `lineax.linear_solve` must have this
    sharding (``jax.sharding.reshard(b, P("x"))``); `DistributedCholesky` returns the solution in it.

    **Arguments:** as `lineax.MatrixLinearOperator`: the ``(N, M)`` `matrix` and optional `tags`.
    """

    def out_structure(self):
        return _vector_structure(self.matrix, 0)

    def in_structure(self):
        rows, cols = jax.numpy.shape(self.matrix)
        return _vector_structure(self.matrix, 0 if rows == cols else 1)
