"""Index-set rule for `custom_linear_solve` (`jnp.linalg.solve`, `jax.scipy.sparse.linalg.cg`,
`lax.custom_linear_solve`): `x = A⁻¹ b` with `A` given by a `matvec` jaxpr.

The solve's own jaxpr is not trusted: `jnp.linalg.solve` factors `stop_gradient(A)`,
and its derivative comes from the primitive's JVP, `dx = A⁻¹ (db - dA x)`. So

- the structure of `A` is read off `matvec` (its outputs' dependence on `x`, with the
  matrix operands unknown unless they are trace-time constants);
- the right-hand side of the JVP depends on `b` and on the `matvec` operands
  (`dA x`, with `x` unknown);
- `A⁻¹` is a polynomial in `A` (Cayley-Hamilton), so `x_i` may depend on right-hand
  side element `j` only when `j` is reachable from `i` in the graph of `A`: the
  strongly connected components of that graph (one per independent block, e.g. one
  per `vmap`ped system) and the reachability between them give the pattern.

This is a superset of the true pattern; a dense or irreducible `A` gives "every
element of `x` depends on everything `A` and `b` depend on".
"""

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from . import index_sets as ix
from .index_sets import Sets
from .params import field
from .rules import size_of

# Reachability between components is propagated at most this many times (the
# longest chain of components); beyond it every component gets everything.
_MAX_CHAIN = 64


def _reach(matrix: sp.csr_array, rhs: Sets, ncols: int) -> Sets:
    """Row `i` of the result: the union of the rows of `rhs` reachable from `i` in the
    graph of the square `matrix`."""
    n = matrix.shape[0]
    if rhs is None:
        return None
    ncomp, labels = connected_components(matrix, directed=True, connection="strong")
    labels = labels.astype(np.int64)
    comp_rhs = ix.group_union(rhs, np.arange(n), labels, ncomp)
    coo = sp.coo_array(matrix)
    a, b = labels[coo.row], labels[coo.col]
    cross = a != b
    if not cross.any():
        return ix.take(comp_rhs, labels)
    dag = ix.from_entries(a[cross], b[cross], ncomp, ncomp)
    reach = comp_rhs
    for _ in range(_MAX_CHAIN):
        new = ix.union(comp_rhs, ix.compose(dag, reach))
        if ix.nnz(new) == ix.nnz(reach):
            return ix.take(reach, labels)
        reach = new
    return ix.broadcast_columns(ix.all_columns([rhs]), n, ncols)


def custom_linear_solve(eqn, sets, vals, ncols, ctx, evaluate: Callable) -> list[Sets]:
    p = eqn.params
    lengths, jaxprs = p["const_lengths"], p["jaxprs"]
    n_matvec = int(field(lengths, "matvec", 0))
    n_consts = sum(int(v) for v in lengths)
    matvec = field(jaxprs, "matvec", 0)
    b_vars, b_sets = eqn.invars[n_consts:], list(sets[n_consts:])
    sizes = [size_of(v) for v in b_vars]
    n = int(sum(sizes))
    m_sets, m_vals = list(sets[:n_matvec]), list(vals[:n_matvec])
    # Structure of A: matvec outputs against x, in a local column space of width n.
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    x_local = [ix.identity(k, n, int(o)) if k else None for k, o in zip(sizes, offsets)]
    a_out, _ = evaluate(matvec, [None] * n_matvec + x_local, m_vals + [None] * len(sizes), n, ctx)
    structure = ix.vstack(a_out, sizes, n)
    # Right-hand side of the JVP: b and dA x (x unknown).
    da_out, _ = evaluate(matvec, m_sets + [None] * len(sizes), m_vals + [None] * len(sizes),
                         ncols, ctx)
    rhs = ix.union(ix.vstack(b_sets, sizes, ncols), ix.vstack(da_out, sizes, ncols))
    if rhs is None:
        return [None] * len(eqn.outvars)
    if structure is None:  # A is structurally zero: nothing to learn from it
        x = ix.broadcast_columns(ix.all_columns([rhs]), n, ncols)
    else:
        x = _reach(sp.csr_array(structure + ix.identity(n, n, 0)), rhs, ncols)
    return [ix.take(x, np.arange(o, o + k)) for o, k in zip(offsets[:-1], sizes)]
