"""PETSc engine: `nativax.PETSc` (a lineax solver: MUMPS, SuperLU_DIST, hypre BoomerAMG, GAMG, any PETSc
options) and the row-partitioned operator for multi-process (`mpiexec`) runs. See docs/petsc.md.

Present only in builds where CMake found PETSc (`nativax.has_petsc`)."""

from ._petsc.config import PRESETS as PRESETS
from ._petsc.ext import available as available
from ._petsc.operator import RowPartitionedOperator as RowPartitionedOperator
from ._petsc.operator import block_rows as block_rows
from ._petsc.rows import LocalRows as LocalRows
from ._petsc.solver import PETSc as PETSc
from ._petsc.solver import cache_info as cache_info
from ._petsc.solver import rank_and_size as rank_and_size
from ._petsc.solver import reset_cache_counters as reset_cache_counters
from ._petsc.status import MESSAGES as MESSAGES

__all__ = ["PRESETS", "MESSAGES", "LocalRows", "PETSc", "RowPartitionedOperator", "available", "block_rows",
           "cache_info", "rank_and_size", "reset_cache_counters"]
