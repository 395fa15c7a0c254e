"""Multi-device dense Hermitian positive definite factorization, inverse and solve.

`potrf` (Cholesky), `potri` (inverse), `potrs` (solve) of an ``N x N`` matrix whose rows are
sharded over one mesh axis, ``in_specs=P(axis, None)``, plus `potri_shardmap_ctx` /
`potrs_shardmap_ctx` for use inside your own `jax.shard_map`, `symmetrize`, and the lineax solver
`DistributedCholesky`.

Engines (``engine=``):

* ``"shard_map"`` (any backend: CPU, GPU, TPU; multi-host through `jax.distributed`): a blocked
  Cholesky / triangular inverse / ``W^H W`` product written with `jax.shard_map` collectives on a
  1-D block-cyclic distribution of tiles of width ``tile``. A device never holds more than its
  row shard plus ``O(N * tile)`` elements of panels.
* ``"cusolvermg"`` (single process, several local NVIDIA GPUs): NVIDIA cuSOLVERMg through the
  optional extension ``nativax._cusolvermg_cuda``. **Unverified**: it compiles, but has not been run on a
  GPU by this project yet.
* ``"auto"`` (default): ``"cusolvermg"`` when usable, else ``"shard_map"``.

Padding: every shard of ``N / ndev`` rows is padded to a multiple of ``tile`` with a decoupled
identity block (the padded matrix stays positive definite and the result restricted to the
original rows/columns is exact). This costs one copy of each shard and only happens when
``(N / ndev) % tile != 0``; when ``N % ndev != 0`` the matrix is first padded globally to a
multiple of ``ndev`` (a global copy plus a reshard). Pick ``tile`` dividing ``N / ndev`` to avoid
both.

Failure contract: if the matrix is not (numerically) positive definite the outputs are NaN and
``status`` is nonzero (``return_status=True`` returns ``(result, status)``).
"""

from ._distributed.factor import (
    NotPositiveDefiniteError,
    potrf,
    potri,
    potri_shardmap_ctx,
    potrs,
    potrs_shardmap_ctx,
    symmetrize,
)
from ._distributed.operator import ShardedMatrixOperator
from ._distributed.solver import DistributedCholesky

__all__ = [
    "DistributedCholesky",
    "NotPositiveDefiniteError",
    "ShardedMatrixOperator",
    "potrf",
    "potri",
    "potri_shardmap_ctx",
    "potrs",
    "potrs_shardmap_ctx",
    "symmetrize",
]
