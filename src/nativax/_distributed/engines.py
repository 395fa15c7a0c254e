"""The engine contract of `nativax.distributed`, and its two engines.

An engine supplies the shard-local numerical steps of the distributed Cholesky. Everything around them
(validation, global padding, `shard_map` wiring, custom JVPs, the lineax solver) is engine-agnostic and lives
in `factor.py` / `solver.py`. Every method runs inside `shard_map` on one device's padded row block `x` of
shape ``(m, Np)`` in the layout `lay` (see `kernels.Layout`) and returns arrays of the same layout; `info` is a
replicated int32 that is nonzero when the matrix is not (numerically) positive definite. Engines are
stateless and compare equal by type, so they can sit in the static, hashable configuration (`checks._Cfg`).
"""

import abc
import dataclasses
from typing import ClassVar

from . import cusolvermg as MG
from . import kernels as K


class DenseSPDEngine(abc.ABC):
    """Shard-local steps of a distributed dense SPD factorization (see the module docstring)."""

    name: ClassVar[str]
    differentiable_logdet: ClassVar[bool]
    """Whether `tr(A^{-1} dA)` (the log-determinant's JVP) is implemented for this engine's factor."""

    @abc.abstractmethod
    def factor(self, x, lay: K.Layout):
        """Padded block -> (Cholesky factor in the internal permuted tile order, info)."""

    @abc.abstractmethod
    def solve(self, xf, bp, lay: K.Layout):
        """Solve with a factor from `factor`; `bp` is the padded replicated right-hand side."""

    @abc.abstractmethod
    def logdet(self, xf, lay: K.Layout):
        """log det A from a factor from `factor` (replicated scalar)."""

    @abc.abstractmethod
    def inverse(self, x, lay: K.Layout):
        """Padded block -> (block of A^{-1}, info)."""

    @abc.abstractmethod
    def factor_true_order(self, x, lay: K.Layout):
        """Block in block-cyclic tile order -> (lower Cholesky factor in the caller's row order, info)."""

    def device_ids(self, mesh, axis) -> tuple[int, ...]:
        """Device ordinals the native side needs (none for pure-JAX engines)."""
        del mesh, axis
        return ()


@dataclasses.dataclass(frozen=True)
class ShardMapEngine(DenseSPDEngine):
    """Blocked Cholesky written with `shard_map` collectives: any backend, multi-host."""

    name: ClassVar[str] = "shard_map"
    differentiable_logdet: ClassVar[bool] = True

    def factor(self, x, lay):
        return K.cholesky_local(x, lay)

    def solve(self, xf, bp, lay):
        return K.solve_local(xf, bp, lay)

    def logdet(self, xf, lay):
        return K.logdet_local(xf, lay)

    def inverse(self, x, lay):
        x, info = K.cholesky_local(x, lay)
        return K.lauum_local(K.trtri_local(x, lay), lay), info

    def factor_true_order(self, x, lay):
        x, info = K.cholesky_local(x, lay)
        x = K.zero_upper_local(x, lay)
        return K.exchange_row_tiles(x, lay, to_cyclic=False), info


@dataclasses.dataclass(frozen=True)
class CuSolverMgEngine(DenseSPDEngine):
    """NVIDIA cuSOLVERMg on the local GPUs of one process (unverified: never run on a GPU by this project)."""

    name: ClassVar[str] = "cusolvermg"
    differentiable_logdet: ClassVar[bool] = False

    def factor(self, x, lay):
        return MG.potrf_local(x, lay)

    def solve(self, xf, bp, lay):
        return MG.potrs_local(xf, bp, lay)

    def logdet(self, xf, lay):
        return MG.logdet_local(xf, lay)

    def inverse(self, x, lay):
        return MG.potri_local(x, lay)

    def factor_true_order(self, x, lay):
        return MG.potrf_true_order_local(x, lay)

    def device_ids(self, mesh, axis):
        return MG.device_ids(mesh, axis)


ENGINES: dict[str, DenseSPDEngine] = {e.name: e for e in (ShardMapEngine(), CuSolverMgEngine())}


def resolve(engine: str, mesh, axis, fname: str) -> DenseSPDEngine:
    """The engine object for the user's `engine=` string ("auto" picks cuSOLVERMg when it can run)."""
    if engine == "shard_map":
        return ENGINES["shard_map"]
    why = MG.unavailable_reason(mesh, axis)
    if engine == "cusolvermg" and why is not None:
        raise RuntimeError(
            f"{fname}: engine='cusolvermg' is not available: {why}. Use engine='shard_map' "
            "(any backend) or engine='auto'."
        )
    return ENGINES["shard_map" if why is not None else "cusolvermg"]
