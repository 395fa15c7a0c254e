import jax
import numpy as np
import pytest
import scipy.sparse as sp

# Tests compare against float64 references; the package itself never touches this flag.
jax.config.update("jax_enable_x64", True)


def random_sparse(n: int, density: float = 0.15, seed: int = 0, complex_: bool = False) -> sp.coo_matrix:
    """A well-conditioned random sparse matrix with a dominant diagonal."""
    rng = np.random.default_rng(seed)
    a = sp.random(n, n, density=density, random_state=rng, format="coo")
    if complex_:
        a = a + 1j * sp.random(n, n, density=density, random_state=rng, format="coo")
    a = a + sp.diags(np.abs(a).sum(axis=1).A1 + 1.0)
    return a.tocoo()


@pytest.fixture
def coo():
    a = random_sparse(30, seed=1)
    return a.row.astype(np.int32), a.col.astype(np.int32), a.data, a.toarray()


@pytest.fixture
def ccoo():
    a = random_sparse(25, seed=2, complex_=True)
    return a.row.astype(np.int32), a.col.astype(np.int32), a.data, a.toarray()
