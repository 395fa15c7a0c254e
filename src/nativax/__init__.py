"""nativax: native sparse and distributed linear solvers for JAX, as lineax solvers."""

from . import distributed as distributed
from . import klu as klu
from . import scaleout as scaleout
from . import sparsity as sparsity
from ._direct.auto import Auto as Auto
from ._direct.cholmod.logdet import logdet as logdet
from ._direct.cholmod.solver import CHOLMOD as CHOLMOD
from ._direct.umfpack.solver import UMFPACK as UMFPACK
from ._native import lib as _lib
from .amg import AMG as AMG
from .caches import cache_info as cache_info
from .caches import clear_caches as clear_caches
from .caches import finalize as finalize
from .caches import reset_cache_counters as reset_cache_counters
from .caches import set_cache_bytes as set_cache_bytes
from .caches import set_cache_size as set_cache_size
from .distributed import NotPositiveDefiniteError as NotPositiveDefiniteError
from .distributed_solver import DistributedCholesky as DistributedCholesky
from .handles import FreedHandleError as FreedHandleError
from .handles import NumericHandle as NumericHandle
from .handles import SingularMatrixError as SingularMatrixError
from .handles import SymbolicHandle as SymbolicHandle
from .klu_solver import KLU as KLU
from .operators import SparseOperator as SparseOperator
from .pattern import SparsityPattern as SparsityPattern
from .sparsify import as_sparse_operator as as_sparse_operator

has_cholmod: bool = bool(_lib.HAS_CHOLMOD)
"""Whether this build links CHOLMOD (GPL build, `NATIVAX_GPL=ON`, library found)."""
has_umfpack: bool = bool(_lib.HAS_UMFPACK)
"""Whether this build links UMFPACK (GPL build, `NATIVAX_GPL=ON`, library found)."""

__version__ = "0.1.0"
