"""Ordering and pivoting controls of the sparse direct engines (`ordering`, `pivot_tol`, `scale`): answers
against scipy for every engine x ordering, separate cache entries per option set, orderings and pivot
tolerances that visibly change the factorization, and clear errors for what an engine cannot do."""

import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

import nativax

SPD_TAGS = (lx.symmetric_tag, lx.positive_semidefinite_tag)
ORDERINGS = {
    nativax.KLU: ("default", "natural", "amd", "colamd", "perm"),
    nativax.UMFPACK: ("default", "natural", "amd", "colamd", "metis", "perm"),
    nativax.CHOLMOD: ("default", "natural", "amd", "metis", "nesdis", "perm"),
}


def poisson(m: int) -> sp.csr_matrix:
    t = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(m, m))
    return (sp.kron(t, sp.eye(m)) + sp.kron(sp.eye(m), t)).tocsr()


def nonsymmetric(m: int) -> sp.csr_matrix:
    """A 2-D convection-diffusion-like matrix: Poisson plus a one-sided (upwind) term."""
    n = m * m
    return (poisson(m) + sp.diags([0.7 * np.ones(n - 1)], [1], shape=(n, n))).tocsr()


def pivot_hungry(n: int, seed: int) -> sp.csc_matrix:
    """Nonsymmetric, diagonals at ~1e-3 of their column's largest entry: a small pivot tolerance accepts them."""
    rng = np.random.default_rng(seed)
    a = sp.random(n, n, density=0.02, random_state=rng, data_rvs=rng.standard_normal).tocsc()
    colmax = np.maximum(abs(a).max(axis=0).toarray().ravel(), 1.0)
    return (a + sp.diags(1e-3 * (1 + 0.5 * rng.random(n)) * colmax)).tocsc()


def backward_error(a, x, b) -> float:
    r = b - a @ x
    return float(np.abs(r).max() / (abs(a).sum(axis=1).max() * np.abs(x).max() + np.abs(b).max()))


def op_of(a, tags=()):
    return nativax.SparseOperator.from_scipy(sp.csr_matrix(a), tags=tags)


def matrix_for(solver_cls, m=7):
    return (poisson(m), SPD_TAGS) if solver_cls is nativax.CHOLMOD else (nonsymmetric(m), ())


@pytest.mark.parametrize("solver_cls,ordering", [(s, o) for s, os in ORDERINGS.items() for o in os],
                         ids=lambda v: getattr(v, "__name__", v))
def test_every_engine_and_ordering_solves(solver_cls, ordering):
    a, tags = matrix_for(solver_cls)
    n = a.shape[0]
    if ordering == "perm":
        ordering = np.random.default_rng(1).permutation(n)  # an array is accepted (stored as a tuple)
    b = np.linspace(-1.0, 2.0, n)
    sol = lx.linear_solve(op_of(a, tags), b, solver_cls(ordering=ordering))
    np.testing.assert_allclose(sol.value, spla.spsolve(a.tocsc(), b), rtol=1e-11, atol=1e-12)
    assert int(sol.stats["status"]) == 0


@pytest.mark.parametrize("solver_cls", [nativax.KLU, nativax.UMFPACK])
@pytest.mark.parametrize("scale", ["none", "sum", "max"])
def test_scaling_solves(solver_cls, scale):
    a = nonsymmetric(6) @ sp.diags(np.logspace(-3, 3, 36))  # badly scaled columns
    b = np.ones(36)
    sol = lx.linear_solve(op_of(a), b, solver_cls(scale=scale, pivot_tol=0.5))
    np.testing.assert_allclose(a @ np.asarray(sol.value), b, rtol=0, atol=1e-9)


@pytest.mark.parametrize("solver_cls", list(ORDERINGS))
def test_orderings_change_the_factorization(solver_cls):
    # 2-D Poisson 16 x 16: the natural (banded) order fills the band; AMD about halves the factor.
    a = poisson(16)
    op = op_of(a, SPD_TAGS)
    b = np.ones(a.shape[0])
    nnz = {}
    for ordering in ("natural", "amd", tuple(range(a.shape[0]))):
        sol = lx.linear_solve(op, b, solver_cls(ordering=ordering))
        nnz[ordering if isinstance(ordering, str) else "identity"] = int(sol.stats["factor_nnz"])
        np.testing.assert_allclose(a @ np.asarray(sol.value), b, atol=1e-10)
    assert nnz["natural"] > 1.5 * nnz["amd"], nnz
    assert nnz["identity"] == nnz["natural"], nnz  # the identity permutation is the natural order


def test_different_options_never_share_a_cache_entry():
    nativax.clear_caches()
    nativax.reset_cache_counters()
    op = op_of(nonsymmetric(6))
    b = np.ones(36)
    solvers = [nativax.KLU(), nativax.KLU(ordering="natural"), nativax.KLU(ordering="colamd"),
               nativax.KLU(pivot_tol=1.0), nativax.KLU(scale="none"), nativax.KLU(ordering=tuple(range(36)))]
    for s in solvers:
        sol = lx.linear_solve(op, b, s)
        assert not bool(sol.stats["cache_hit"])
    info = nativax.cache_info()["klu"]
    assert info["symbolic"]["misses"] == len(solvers) and info["symbolic"]["hits"] == 0
    assert info["factorizations"] == len(solvers)
    again = lx.linear_solve(op, b, nativax.KLU(ordering="natural"))  # an equal option set does hit
    assert bool(again.stats["cache_hit"])
    assert nativax.cache_info()["klu"]["factorizations"] == len(solvers)
    # UMFPACK and CHOLMOD key the same way.
    for cls, a, tags, opts in ((nativax.UMFPACK, nonsymmetric(6), (), [{}, {"pivot_tol": 1.0}, {"scale": "max"}]),
                               (nativax.CHOLMOD, poisson(6), SPD_TAGS, [{}, {"ordering": "natural"}])):
        for o in opts:
            assert not bool(lx.linear_solve(op_of(a, tags), b, cls(**o)).stats["cache_hit"])
        assert nativax.cache_info()[cls.engine.name]["factorizations"] == len(opts)


@pytest.mark.parametrize("solver_cls", [nativax.KLU, nativax.UMFPACK])
def test_pivot_tolerance_matters(solver_cls):
    a = pivot_hungry(300, 7)
    b = np.random.default_rng(0).standard_normal(300)
    loose = lx.linear_solve(op_of(a), b, solver_cls(pivot_tol=1e-3))
    strict = lx.linear_solve(op_of(a), b, solver_cls(pivot_tol=1.0))
    assert backward_error(a, np.asarray(loose.value), b) >= 1e-12  # small diagonal pivots accepted: growth
    assert backward_error(a, np.asarray(strict.value), b) <= 1e-15  # strict partial pivoting
    assert int(strict.stats["factor_nnz"]) > int(loose.stats["factor_nnz"])  # the price: more fill


@pytest.mark.parametrize("solver_cls", list(ORDERINGS))
def test_handles_keep_the_options(solver_cls):
    a, tags = matrix_for(solver_cls, 10)
    op = op_of(a, tags)
    b = np.ones(a.shape[0])
    ref = spla.spsolve(a.tocsc(), b)
    held = solver_cls.factor(op, ordering="natural")
    assert held.ordering == "natural"
    sol = lx.linear_solve(op, b, held)
    np.testing.assert_allclose(sol.value, ref, rtol=1e-11)
    default_nnz = int(lx.linear_solve(op, b, solver_cls()).stats["factor_nnz"])
    assert int(sol.stats["factor_nnz"]) > default_nnz
    analysed = solver_cls(ordering="natural").analyze(op)
    sol2 = lx.linear_solve(op, b, analysed)
    np.testing.assert_allclose(sol2.value, ref, rtol=1e-11)
    assert int(sol2.stats["factor_nnz"]) == int(sol.stats["factor_nnz"])


def test_options_under_jit_vmap_and_grad():
    a = nonsymmetric(5)
    n = a.shape[0]
    base = op_of(a)
    solver = nativax.KLU(ordering="colamd", pivot_tol=1.0, scale="sum")

    def f(values, b):
        op = nativax.SparseOperator(values, base.pattern)
        return lx.linear_solve(op, b, solver).value

    b = jnp.linspace(0.0, 1.0, n)
    xs = jax.jit(jax.vmap(f, in_axes=(None, 0)))(base.values, jnp.stack([b, 2 * b]))
    np.testing.assert_allclose(xs[1], 2 * spla.spsolve(a.tocsc(), np.asarray(b)), rtol=1e-11)
    g = jax.grad(lambda v: f(v, b).sum())(base.values)
    dense = jnp.asarray(a.toarray())
    rows, cols = base.pattern.rows, base.pattern.cols
    gd = jax.grad(lambda d: jnp.linalg.solve(d, b).sum())(dense)[rows, cols]
    np.testing.assert_allclose(g, gd, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(
    "solver_cls,kwargs,match",
    [
        (nativax.KLU, {"ordering": "metis"}, r"KLU: `ordering` must be one of"),
        (nativax.KLU, {"ordering": "nesdis"}, r"KLU: `ordering`"),
        (nativax.CHOLMOD, {"ordering": "colamd"}, r"CHOLMOD: `ordering` must be one of"),
        (nativax.UMFPACK, {"ordering": "fastest"}, r"UMFPACK: `ordering`"),
        (nativax.KLU, {"ordering": 3.5}, r"`ordering` must be a string"),
        (nativax.KLU, {"ordering": [0, 0, 1]}, r"`ordering` given as a permutation must contain each of 0..n-1"),
        (nativax.UMFPACK, {"ordering": [1, 2, 3]}, r"permutation"),
        (nativax.CHOLMOD, {"pivot_tol": 0.1}, r"CHOLMOD: `pivot_tol` is not supported by CHOLMOD"),
        (nativax.CHOLMOD, {"scale": "max"}, r"CHOLMOD: `scale` is not supported by CHOLMOD"),
        (nativax.KLU, {"pivot_tol": 0.0}, r"`pivot_tol` must be None or a float in \(0, 1\]"),
        (nativax.UMFPACK, {"pivot_tol": 2.0}, r"`pivot_tol` must be None or a float in \(0, 1\]"),
        (nativax.KLU, {"pivot_tol": True}, r"`pivot_tol`"),
        (nativax.KLU, {"scale": "row"}, r"`scale` must be None or one of 'none', 'sum', 'max'"),
    ],
)
def test_unsupported_options_are_clear_errors(solver_cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        solver_cls(**kwargs)


@pytest.mark.parametrize("solver_cls", list(ORDERINGS))
def test_permutation_of_the_wrong_length(solver_cls):
    a, tags = matrix_for(solver_cls, 4)
    op = op_of(a, tags)
    with pytest.raises(ValueError, match=r"`ordering` is a permutation of length 3 but the operator is 16 x 16"):
        lx.linear_solve(op, np.ones(16), solver_cls(ordering=(2, 0, 1)))
    with pytest.raises(ValueError, match=r"`ordering` is a permutation of length 3"):
        solver_cls.factor(op, ordering=[2, 0, 1])
    with pytest.raises(ValueError, match=r"`ordering` is a permutation of length 3"):
        solver_cls(ordering=[2, 0, 1]).analyze(op)


def test_pickled_handles_keep_their_options():
    import pickle

    a = poisson(10)
    op = op_of(a)
    b = np.ones(100)
    held = nativax.UMFPACK.factor(op, ordering="natural", pivot_tol=1.0)
    again = pickle.loads(pickle.dumps(held))
    assert again.symbolic.options.ordering == held.symbolic.options.ordering
    nnz = [int(lx.linear_solve(op, b, s).stats["factor_nnz"]) for s in (held, again, nativax.UMFPACK())]
    assert nnz[0] == nnz[1] > nnz[2], nnz


@pytest.mark.parametrize("module", ["klu", "umfpack", "cholmod"])
def test_functional_analyze_takes_the_options(module):
    mod = getattr(nativax, module)
    a = (poisson(8) if module == "cholmod" else nonsymmetric(8)).tocoo()
    rows, cols = a.row.astype(np.int32), a.col.astype(np.int32)
    b = np.ones(64)
    ref = spla.spsolve(a.tocsc(), b)
    for kw in ({"ordering": "natural"}, {"ordering": np.arange(64)[::-1]}):
        with mod.analyze(rows, cols, 64, **kw) as sym:
            np.testing.assert_allclose(mod.solve_with_symbolic(sym, a.data, b), ref, rtol=1e-11)
    with pytest.raises(ValueError, match=rf"{module}.analyze: `ordering` must be one of"):
        mod.analyze(rows, cols, 64, ordering="colamd" if module == "cholmod" else "nesdis")
    with pytest.raises(ValueError, match=r"`ordering` is a permutation of length 3 but the operator is 64 x 64"):
        mod.analyze(rows, cols, 64, ordering=[0, 1, 2])
