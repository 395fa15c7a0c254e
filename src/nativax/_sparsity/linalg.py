"""Index-set rules for dense linear algebra and FFTs: batched, dense per batch.

`cholesky`, `lu`, `qr`, `eigh`, `svd`, `triangular_solve`, ... act on the trailing
matrix dimensions of their operands and broadcast over the leading (batch)
dimensions; `fft` acts on its `len(fft_lengths)` trailing dimensions. Each output
element of batch `b` may depend on every input element of batch `b` (a conservative
rule: no triangular or banded structure is kept), and never on another batch, so a
`vmap`ped small solve stays block diagonal.
"""

import numpy as np

from . import index_sets as ix
from .rules import RULES, shape_of, size_of


def _batched_dense(eqn, sets, core: int):
    first = shape_of(eqn.invars[0])
    nb = len(first) - core
    batch = first[:max(nb, 0)]
    vars_ = list(eqn.invars) + list(eqn.outvars)
    if nb < 0 or any(len(shape_of(v)) < nb or shape_of(v)[:nb] != batch for v in vars_):
        batch = ()
    nbatch = int(np.prod(batch, dtype=np.int64))
    if nbatch == 0:
        return [None] * len(eqn.outvars)
    merged = None
    for var, s in zip(eqn.invars, sets):
        if s is None:
            continue
        size = size_of(var)
        rows = np.arange(size, dtype=np.int64) // max(size // nbatch, 1)
        merged = ix.union(merged, ix.group_union(s, np.arange(size), rows, nbatch))
    outs = []
    for var in eqn.outvars:
        size = size_of(var)
        outs.append(ix.take(merged, np.arange(size, dtype=np.int64) // max(size // nbatch, 1)))
    return outs


def _core(rank: int):
    def rule(eqn, sets, vals, ncols):
        return _batched_dense(eqn, sets, rank)

    return rule


for _name in ("cholesky", "cholesky_update", "eig", "eigh", "hessenberg", "householder_product",
              "lu", "ormqr", "qr", "schur", "svd", "symmetric_product", "triangular_solve",
              "tridiagonal"):
    RULES[_name] = _core(2)
RULES["tridiagonal_solve"] = _core(1)


def _fft(eqn, sets, vals, ncols):
    return _batched_dense(eqn, sets, len(eqn.params["fft_lengths"]))


RULES["fft"] = _fft
