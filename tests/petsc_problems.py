"""Real test matrices for the PETSc engine (shared by tests/test_petsc.py and tests/petsc_mpi_worker.py)."""

import numpy as np
import scipy.sparse as sp


def poisson2d(k: int) -> sp.csr_matrix:
    """5-point Laplacian on a k x k grid (Dirichlet): SPD, n = k^2."""
    t = sp.diags([-np.ones(k - 1), 2 * np.ones(k), -np.ones(k - 1)], [-1, 0, 1])
    eye = sp.identity(k)
    return sp.csr_matrix(sp.kron(t, eye) + sp.kron(eye, t))


def poisson3d(k: int) -> sp.csr_matrix:
    """7-point Laplacian on a k^3 grid (Dirichlet): SPD, n = k^3."""
    t = sp.diags([-np.ones(k - 1), 2 * np.ones(k), -np.ones(k - 1)], [-1, 0, 1])
    eye = sp.identity(k)
    return sp.csr_matrix(sp.kron(sp.kron(t, eye), eye) + sp.kron(sp.kron(eye, t), eye) + sp.kron(sp.kron(eye, eye), t))


def convection_diffusion(k: int, peclet: float = 20.0) -> sp.csr_matrix:
    """Upwinded convection-diffusion -Δu + w·∇u on a k x k grid, w = (1, 0.5): nonsymmetric, nonsingular."""
    h = 1.0 / (k + 1)
    lap = poisson2d(k) / h**2
    d = sp.diags([-np.ones(k - 1), np.ones(k)], [-1, 0]) / h  # first-order upwind difference
    eye = sp.identity(k)
    conv = peclet * (sp.kron(eye, d) + 0.5 * sp.kron(d, eye))
    return sp.csr_matrix(lap + conv)


def circuit(n: int, seed: int = 0) -> sp.csr_matrix:
    """A circuit-like (modified nodal analysis) matrix: a sparse random conductance graph made nonsymmetric by
    controlled sources, a few dense 'supply' rows/columns, diagonally dominant."""
    rng = np.random.default_rng(seed)
    m = 3 * n
    i, j = rng.integers(0, n, m), rng.integers(0, n, m)
    keep = i != j
    g = rng.uniform(0.1, 10.0, keep.sum())
    a = sp.coo_matrix((-g, (i[keep], j[keep])), shape=(n, n))
    a = a + a.T  # conductances
    hubs = rng.choice(n, 3, replace=False)
    rows = np.concatenate([np.repeat(hubs, n // 4), rng.integers(0, n, n // 4 * 3)])
    cols = np.concatenate([rng.integers(0, n, n // 4 * 3), np.repeat(hubs, n // 4)])
    src = sp.coo_matrix((rng.uniform(-0.5, 0.5, rows.size), (rows, cols)), shape=(n, n))  # controlled sources
    a = sp.csr_matrix(a + src)
    a.setdiag(0)
    a.eliminate_zeros()
    diag = np.asarray(abs(a).sum(axis=1)).ravel() + rng.uniform(1.0, 2.0, n)
    return sp.csr_matrix(a + sp.diags(diag))
