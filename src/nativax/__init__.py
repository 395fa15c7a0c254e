"""nativax: native sparse and distributed linear solvers for JAX, as lineax solvers."""

from . import amg as amg
from . import caches as caches
from . import cholmod as cholmod
from . import distributed as distributed
from . import gaussian as gaussian
from . import handles as handles
from . import klu as klu
from . import petsc as petsc
from . import scaleout as scaleout
from . import sparsity as sparsity
from . import umfpack as umfpack
from ._amg.solver import AMG as AMG
from ._core.caches import cache_info as cache_info
from ._core.caches import clear_caches as clear_caches
from ._core.caches import finalize as finalize
from ._core.caches import reset_cache_counters as reset_cache_counters
from ._core.caches import set_cache_bytes as set_cache_bytes
from ._core.caches import set_cache_size as set_cache_size
from ._core.convert import as_sparse_operator as as_sparse_operator
from ._core.native import lib as _lib
from ._core.operator import SparseOperator as SparseOperator
from ._core.pattern import SparsityPattern as SparsityPattern
from ._direct.auto import Auto as Auto
from ._direct.cholmod.logdet import logdet as logdet
from ._direct.cholmod.solver import CHOLMOD as CHOLMOD
from ._direct.handles import FreedHandleError as FreedHandleError
from ._direct.handles import NumericHandle as NumericHandle
from ._direct.handles import SingularMatrixError as SingularMatrixError
from ._direct.handles import SymbolicHandle as SymbolicHandle
from ._direct.klu.solver import KLU as KLU
from ._direct.umfpack.solver import UMFPACK as UMFPACK
from ._distributed.factor import NotPositiveDefiniteError as NotPositiveDefiniteError
from ._distributed.solver import DistributedCholesky as DistributedCholesky
from ._petsc.solver import PETSc as PETSc

has_cholmod: bool = bool(_lib.HAS_CHOLMOD)
"""Whether this build links CHOLMOD (GPL build, `NATIVAX_GPL=ON`, library found)."""
has_umfpack: bool = bool(_lib.HAS_UMFPACK)
"""Whether this build links UMFPACK (GPL build, `NATIVAX_GPL=ON`, library found)."""

has_petsc: bool = petsc.available()
"""Whether this build has the PETSc engine (`nativax.PETSc`; CMake found PETSc via pkg-config)."""

__version__ = "0.1.0"
