"""Reference benchmark problems P1-P5 (see DESIGN.md), so every benchmark measures the same matrices.

Usage: `import problems` from a script in benchmarks/ (a copy of ../shared/bench/problems.py).
Each builder returns a scipy.sparse CSR matrix; `new_values(A, k)` gives the k-th fresh value set with the
same pattern (for refactor/batch problems), never seen before by any cache.
"""
import numpy as np
import scipy.sparse as sp


def poisson2d(m: int = 500) -> sp.csr_matrix:
    """P1: 5-point Laplacian on an m x m grid (n = m*m; m=500 gives n=250,000)."""
    t = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(m, m))
    eye = sp.identity(m)
    return (sp.kron(t, eye) + sp.kron(eye, t)).tocsr()


def banded_random(n: int = 20_000, off_per_row: int = 5, band: int = 100, seed: int = 0) -> sp.csr_matrix:
    """P2: nonsymmetric, ~(off_per_row+1) nnz/row, off-diagonals within |i-j| <= band, dominant diagonal."""
    rng = np.random.default_rng(seed)
    rows = np.repeat(np.arange(n), off_per_row)
    cols = np.clip(rows + rng.integers(-band, band + 1, size=rows.size), 0, n - 1)
    vals = rng.standard_normal(rows.size)
    a = sp.coo_matrix((vals, (rows, cols)), shape=(n, n)).tocsr()
    a.sum_duplicates()
    a = a + sp.diags(np.abs(a).sum(axis=1).A1 + 1.0)
    return a.tocsr()


def new_values(a: sp.csr_matrix, k: int, scale: float = 0.1) -> sp.csr_matrix:
    """Value set k for P3/P4: same pattern, off-diagonals perturbed, diagonal kept dominant."""
    rng = np.random.default_rng(1000 + k)
    b = a.copy()
    b.data = b.data * (1.0 + scale * rng.standard_normal(b.data.size))
    b.setdiag(np.abs(b).sum(axis=1).A1 + 1.0)
    return b.tocsr()


if __name__ == "__main__":
    for name, a in (("P1", poisson2d(50)), ("P2", banded_random(2000))):
        print(name, a.shape, a.nnz, "ok")
