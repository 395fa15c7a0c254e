"""The engine contract of `nativax.AMG`, and its two engines.

`AMG` holds the options (method, cycle, smoother, Krylov method, tolerances) and an engine object that does the
work. An engine is stateless (it compares equal by type, so it can be a static field) and implements:

* `check(solver)`: refuse, at construction, options or a build it cannot serve;
* `setup(solver, op, resetup)`: the eager host setup, returning the solver to use (possibly holding the setup);
* `init(solver, operator, op)`: the lineax solver state for `operator` (`op` is its `SparseOperator` form);
* `solve(solver, state, b)`: `(x, lx.RESULTS, stats)` for a flat right-hand side `b`;
* `transpose(state)`, `conj(state)`: the state of the transposed / conjugated system, on the same setup;
* `summary(solver, op)`: a text summary of the hierarchy.

Packing of pytree vectors, operator conversion and the public option checks stay in `AMG` (`solver.py`).
"""

import abc
import dataclasses
from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np

from .._core import packing
from .._core.operator import SparseOperator
from . import amgx as _amgx
from . import cycle as cyc
from . import hierarchy as hier
from . import krylov as kry
from . import setup as setup_
from .spmv import matvec

AUTO = "auto"

# One compiled program for the whole numeric setup: called eagerly (e.g. `AMG.preconditioner` outside `jit`)
# it is one dispatch instead of hundreds; under an outer `jit` it is traced inline.
_resetup = jax.jit(hier.resetup)


def concrete_values(op: SparseOperator) -> np.ndarray | None:
    """The operator's values as numpy (checked finite), or None when traced."""
    try:
        values = np.asarray(op.values)
    except Exception:  # traced
        return None
    if not np.all(np.isfinite(values)):
        raise ValueError("nativax.AMG: the operator's `values` contain NaN or Inf")
    return values


def symmetric_of(op: SparseOperator) -> bool:
    return bool(lx.is_symmetric(op) or lx.is_positive_semidefinite(op))


class AMGState(eqx.Module):
    """State of the JAX engine: the numeric hierarchy and how to apply it (transposed / conjugated)."""

    hierarchy: hier.Hierarchy
    structure: hier.Structure
    values: Any
    symmetric: bool = eqx.field(static=True)
    transposed: bool = eqx.field(static=True)
    conjugated: bool = eqx.field(static=True)
    packed: packing.PackedStructures
    """The operator's (pytree) output and input structures, as lineax packs them."""
    hermitian: bool = eqx.field(static=True, default=False)
    """Complex and only Hermitian (tagged positive semidefinite, not symmetric): A^T = conj(A)."""


class AbstractAMGEngine(eqx.Module):
    """What `nativax.AMG` asks of an engine (see the module docstring)."""

    name: ClassVar[str]

    @abc.abstractmethod
    def check(self, solver) -> None: ...

    @abc.abstractmethod
    def setup(self, solver, op: SparseOperator, resetup: bool = True): ...

    @abc.abstractmethod
    def init(self, solver, operator: lx.AbstractLinearOperator, op: SparseOperator): ...

    @abc.abstractmethod
    def solve(self, solver, state, b): ...

    @abc.abstractmethod
    def transpose(self, state): ...

    @abc.abstractmethod
    def conj(self, state): ...

    @abc.abstractmethod
    def summary(self, solver, op: SparseOperator) -> str: ...


class JaxEngine(AbstractAMGEngine):
    """Host setup (nativax's kernels or pyamg; once per pattern), Galerkin resetup, cycles and Krylov loops in JAX."""

    name: ClassVar[str] = "jax"

    def check(self, solver) -> None:
        if solver.amgx_config is not None:
            raise ValueError("nativax.AMG: `amgx_config` applies to engine='amgx' only")

    def _symbolic(self, solver, op: SparseOperator, refresh: bool = False) -> setup_.Symbolic:
        values = concrete_values(op)
        return setup_.symbolic(op.pattern, values, solver.method, solver.max_levels, solver.max_coarse, refresh,
                              solver.host_setup, solver.theta)

    def setup(self, solver, op: SparseOperator, resetup: bool = True):
        sym = self._symbolic(solver, op, refresh=True)
        structure = _structure(sym.with_maps() if resetup else sym)
        return dataclasses.replace(solver, structure=structure, pattern=op.pattern,
                                   held_setup=setup_.HeldSetup(sym))

    def structure(self, solver, op: SparseOperator) -> hier.Structure:
        """The structure to set `op` up with. Galerkin maps are made (lazily, once per setup) only when the
        coarse levels must follow new values: concrete values other than the setup's, or traced values
        without a held setup. A held setup without maps keeps its coarse levels for traced values."""
        values = concrete_values(op)
        if solver.structure is not None:
            if solver.pattern != op.pattern:
                raise ValueError("nativax.AMG: the operator's sparsity pattern differs from the one this solver was "
                                 "set up for; call `setup` again with the new operator")
            held = solver.held_setup
            if solver.structure.galerkin or values is None or held is None or held.symbolic.matches_setup(values):
                return solver.structure
            return _structure(held.symbolic.with_maps())
        sym = self._symbolic(solver, op)
        return _structure(sym if values is not None and sym.matches_setup(values) else sym.with_maps())

    def init(self, solver, operator: lx.AbstractLinearOperator, op: SparseOperator) -> AMGState:
        structure = self.structure(solver, op)
        symmetric = symmetric_of(op)
        hermitian = symmetric and jnp.iscomplexobj(op.values) and not lx.is_symmetric(op)
        h = _resetup(structure, op.values)
        return AMGState(h, structure, op.values, symmetric, False, False, packing.pack(operator), bool(hermitian))

    @staticmethod
    def effective(state: AMGState) -> hier.Hierarchy:
        h = state.hierarchy
        if state.transposed and not state.symmetric:
            h = hier.transpose(h, state.structure)
        if state.conjugated:
            h = hier.conj(h)
        return h

    def solve(self, solver, state: AMGState, b):
        h = self.effective(state)
        a0 = h.levels[0].a
        b = b.astype(packing.promote(a0.data.dtype, b.dtype))
        krylov = solver.krylov
        if krylov == AUTO:
            krylov = "cg" if state.symmetric and not jnp.iscomplexobj(state.values) else "gmres"
        x, steps, converged = kry.run(
            krylov, lambda v: matvec(a0, v), lambda v: cyc.apply(h, v, solver.cycle, solver.smoother, solver.sweeps),
            b, solver.rtol, solver.atol, solver.max_steps,
        )
        finite_in = jnp.all(jnp.isfinite(state.values)) & jnp.all(jnp.isfinite(b))
        # Non-finite input first: it must never read as converged (the tolerance rtol*||b|| is then Inf too).
        result = lx.RESULTS.where(
            ~finite_in,
            lx.RESULTS.nonfinite_input,
            lx.RESULTS.where(
                converged & jnp.all(jnp.isfinite(x)),
                lx.RESULTS.successful,
                lx.RESULTS.where(jnp.all(jnp.isfinite(x)), lx.RESULTS.max_steps_reached, lx.RESULTS.breakdown),
            ),
        )
        # Arrays only: `jax.jit` may return the whole Solution. `AMG.summary(op)` gives the text version.
        stats = {"num_steps": steps, "n": jnp.asarray(state.structure.n), "nnz": jnp.asarray(state.values.shape[0]),
                 "levels": jnp.asarray(len(h.levels)),
                 "level_sizes": jnp.asarray([int(lv.a.indptr.shape[0]) - 1 for lv in h.levels]),
                 "level_nnz": jnp.asarray([int(lv.a.indices.shape[0]) for lv in h.levels])}
        return x, result, stats

    def transpose(self, state: AMGState) -> AMGState:
        packed = packing.transpose(state.packed)
        if state.hermitian:  # A^T = conj(A): the same hierarchy, conjugated
            return dataclasses.replace(state, conjugated=not state.conjugated, packed=packed)
        return dataclasses.replace(state, transposed=not state.transposed, packed=packed)

    def conj(self, state: AMGState) -> AMGState:
        return dataclasses.replace(state, conjugated=not state.conjugated)

    def summary(self, solver, op: SparseOperator) -> str:
        levels = self.structure(solver, op).levels
        sizes = [int(lv.a.indptr.shape[0]) - 1 for lv in levels]
        nnzs = [int(lv.a.indices.shape[0]) for lv in levels]
        lines = [
            f"nativax.AMG {solver.method}, cycle {solver.cycle}, smoother {solver.smoother} x{solver.sweeps}",
            f"Number of levels:    {len(levels)}",
            f"Operator complexity: {sum(nnzs) / max(nnzs[0], 1):.3f}",
            f"Grid complexity:     {sum(sizes) / max(sizes[0], 1):.3f}",
            "  level   unknowns     nonzeros",
        ]
        total = max(sum(nnzs), 1)
        for i, (m, z) in enumerate(zip(sizes, nnzs)):
            lines.append(f"  {i:>5} {m:>10} {z:>12} [{100 * z / total:5.2f}%]")
        return "\n".join(lines)


def _structure(sym: setup_.Symbolic) -> hier.Structure:
    """`Structure.from_symbolic` (host arrays kept on the symbolic setup, built once per kind), moved to the device
    by one transfer."""
    key = "maps" if sym.has_maps else "lazy"
    host = sym.structures.get(key)
    if host is None:
        host = sym.structures.setdefault(key, hier.Structure.from_symbolic(sym))
    return jax.device_put(host)


class AmgXEngine(AbstractAMGEngine):
    """NVIDIA AmgX on a CUDA GPU (optional extension; unverified: never run on a GPU by this project)."""

    name: ClassVar[str] = "amgx"

    def check(self, solver) -> None:
        why = _amgx.unavailable_reason()
        if why is not None:
            raise ValueError(
                f"nativax.AMG: `engine='amgx'` is not available: {why}. {_amgx.BUILD_HINT}. "
                "Use engine='jax', which runs on GPUs too."
            )

    def setup(self, solver, op: SparseOperator, resetup: bool = True):
        return solver  # AmgX sets itself up inside the solve (native resource cache)

    def init(self, solver, operator: lx.AbstractLinearOperator, op: SparseOperator) -> _amgx.AmgXState:
        concrete_values(op)
        return _amgx.AmgXState(op.values, op.pattern, symmetric_of(op), False, packing.pack(operator))

    def _config(self, solver, state: _amgx.AmgXState) -> str:
        if solver.amgx_config is not None:
            return solver.amgx_config
        krylov = solver.krylov
        if krylov == AUTO:
            krylov = "cg" if state.symmetric and not jnp.iscomplexobj(state.values) else "gmres"
        return _amgx.default_config(
            krylov=krylov, method=solver.method, cycle=solver.cycle, smoother=solver.smoother, sweeps=solver.sweeps,
            rtol=solver.rtol, atol=solver.atol, max_steps=solver.max_steps, max_levels=solver.max_levels,
            max_coarse=solver.max_coarse,
        )

    def solve(self, solver, state: _amgx.AmgXState, b):
        return _amgx.solve(state, b, self._config(solver, state))

    def transpose(self, state: _amgx.AmgXState) -> _amgx.AmgXState:
        return dataclasses.replace(state, transposed=not state.transposed, packed=packing.transpose(state.packed))

    def conj(self, state: _amgx.AmgXState) -> _amgx.AmgXState:
        return state  # real systems only

    def summary(self, solver, op: SparseOperator) -> str:
        return "nativax.AMG(engine='amgx'): the hierarchy lives inside AmgX; no summary available"


ENGINES: dict[str, AbstractAMGEngine] = {e.name: e for e in (JaxEngine(), AmgXEngine())}


def as_engine(engine: "str | AbstractAMGEngine") -> AbstractAMGEngine:
    """The engine object for `AMG(engine=...)`: a name ("jax", "amgx") or an engine instance."""
    if isinstance(engine, AbstractAMGEngine):
        return engine
    if isinstance(engine, str) and engine in ENGINES:
        return ENGINES[engine]
    raise ValueError(f"nativax.AMG: unknown `engine` {engine!r}; expected 'jax' or 'amgx'")
