import os

import jax
import numpy as np
import pytest
import scipy.sparse as sp

# Tests compare against float64 references; the package itself never touches this flag.
jax.config.update("jax_enable_x64", True)

# The strict leg (`make test` runs it after the full suite): the conventions lineax, equinox and optimistix test
# under. `NATIVAX_STRICT=1 pytest -m strict` runs the marked subset that covers every public path.
STRICT = os.environ.get("NATIVAX_STRICT", "") not in ("", "0")
if STRICT:
    jax.config.update("jax_numpy_dtype_promotion", "strict")
    jax.config.update("jax_numpy_rank_promotion", "raise")


@pytest.fixture
def strict_promotion():
    """Run a test under lineax's conventions whatever the leg: strict dtype promotion, rank promotion "raise"."""
    with jax.numpy_dtype_promotion("strict"), jax.numpy_rank_promotion("raise"):
        yield


# The strict leg's subset: one module per public path (KLU functional API and handles, KLU through lineax and
# the operators, sparsity detection/materialisation, AMG, DistributedCholesky on 4 devices). The conformance
# tests (test_lineax_conformance.py) and the no-x64 worker run strict in every leg already.
STRICT_MODULES = {
    "test_klu_solve.py", "test_klu_handles.py", "test_lineax.py", "test_sparsity.py", "test_hessian.py", "test_amg.py",
    "test_distributed.py",
}
# Tests whose own functions mix integer and float arrays (user code that strict promotion rejects by design).
NOT_STRICT_CLEAN = {
    "test_pattern_exact[integer_ops_no_derivative]", "test_pattern_exact[mask_multiply]",
    "test_pattern_conservative[mask_then_multiply]", "test_no_warning_for_known_primitives",
    "test_example_runs",
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.name in STRICT_MODULES and item.name not in NOT_STRICT_CLEAN:
            item.add_marker(pytest.mark.strict)


def pytest_report_header(config):
    return f"nativax strict leg: {'on (dtype promotion strict, rank promotion raise)' if STRICT else 'off'}"


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


def conformance_matrix(n: int, dtype, *, spd: bool, seed: int) -> np.ndarray:
    """A small sparse, well-conditioned matrix for the lineax conformance tests: banded plus one wrapped
    off-band entry per row; Hermitian positive definite when `spd`."""
    rng = np.random.default_rng(seed)
    complex_ = np.issubdtype(dtype, np.complexfloating)

    def draw(size):
        x = rng.standard_normal(size)
        return x + 1j * rng.standard_normal(size) if complex_ else x

    a = np.zeros((n, n), dtype)
    i = np.arange(n)
    for k in (1, -1, 5):
        a[i, (i + k) % n] += draw(n)
    if spd:
        a = a + a.conj().T
    a[i, i] += np.abs(a).sum(axis=1) + 1.0
    return a


@pytest.fixture
def make_matrix():
    """`make_matrix(n, dtype, spd=..., seed=...)`: see `conformance_matrix`."""
    return conformance_matrix
