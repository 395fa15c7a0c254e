"""Exact patterns for operators linearised under `jit` (what optimistix and diffrax hand a solver), and the
warning that names the remedy where the pattern cannot be exact (issue 18)."""

import functools
import warnings

import diffrax
import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np
import optimistix as optx
import pytest

import nativax
from nativax.sparsity import ConservativePatternWarning, SparsityFallbackWarning, jacobian_sparsity

N = 40
IDX = np.array([3, 11, 17, 30])


def _base(u):
    return 2 * u - jnp.roll(u, 1)


CONSTRUCTS = {
    "gather": lambda u, a: _base(u) + jnp.pad(u[IDX], (0, N - IDX.size)),
    "scatter-set-traced": lambda u, a: _base(u).at[IDX].set(u[IDX]),
    "scatter-set-const": lambda u, a: _base(u).at[IDX].set(0.0),
    "scatter-add": lambda u, a: _base(u).at[IDX].add(u[:4]),
    "scatter-mul": lambda u, a: _base(u).at[IDX].multiply(u[5:9], unique_indices=True),
    "scatter-min": lambda u, a: _base(u).at[IDX].min(u[5:9]),
    "scatter-max": lambda u, a: _base(u).at[IDX].max(u[5:9]),
    "take": lambda u, a: _base(u) + jnp.pad(jnp.take(u, IDX), (0, N - IDX.size)),
    "take_along_axis": lambda u, a: _base(u) + jnp.take_along_axis(u.reshape(8, 5), jnp.asarray(
        np.arange(40).reshape(8, 5)[::-1] % 5), axis=1).ravel(),
    "dynamic_slice": lambda u, a: _base(u) + jnp.pad(jax.lax.dynamic_slice(u, (7,), (4,)), (0, N - 4)),
    "dynamic_update_slice": lambda u, a: jax.lax.dynamic_update_slice(_base(u), u[5:9] * 2, (10,)),
    "where": lambda u, a: jnp.where(jnp.arange(N) % 3 == 0, u, _base(u)),
    "concatenate-stack-pad-roll": lambda u, a: jnp.concatenate(
        [jnp.stack([u[:20], jnp.roll(u[20:], 2)], axis=1).ravel()[:20], jnp.pad(u[25:], (5, 0))]),
}


def _linearised_under_jit(f, y):
    seen = []

    def g(y):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            seen.append(nativax.as_sparse_operator(lx.linearise(lx.JacobianLinearOperator(f, y))).pattern)
        seen.append([w for w in caught if issubclass(w.category, (ConservativePatternWarning, SparsityFallbackWarning))])
        return 0

    jax.jit(g).lower(y)
    return seen


@pytest.mark.parametrize("name", list(CONSTRUCTS))
def test_linearise_under_jit_is_exact(name):
    f = CONSTRUCTS[name]
    y = jnp.linspace(1.0, 2.0, N)
    eager = jacobian_sparsity(lambda u: f(u, None), y)
    nativax.sparsity.clear_cache()
    pattern, caught = _linearised_under_jit(f, y)
    assert pattern == eager, (pattern.nnz, eager.nnz)
    assert not caught  # exact: no conservative step, so no warning
    dense = np.asarray(jax.jacfwd(lambda u: f(u, None))(y))
    cover = np.zeros_like(dense, bool)
    cover[pattern.rows, pattern.cols] = True
    assert not np.any((dense != 0) & ~cover)


def test_traced_index_stays_conservative_and_warns():
    """An index computed from the input is truly traced: a superset, with the conservative step named."""

    def f(u, a):
        idx = jnp.argsort(u)[:4]
        return _base(u).at[idx].set(u[idx])

    nativax.sparsity.clear_cache()
    pattern, caught = _linearised_under_jit(f, jnp.linspace(2.0, 1.0, N))
    assert pattern.nnz == N * N
    assert caught and "scatter" in str(caught[-1].message) and "test_linearised_patterns.py" in str(caught[-1].message)
    assert "KLU(pattern=" in str(caught[-1].message)


def test_index_from_args_stays_conservative():
    """Indices passed as a traced argument of the enclosing jit must not be recovered."""

    def outer(y, idx):
        op = lx.linearise(lx.JacobianLinearOperator(lambda u, a: _base(u).at[idx].set(u[idx]), y))
        seen.append(nativax.as_sparse_operator(op).pattern)
        return 0

    seen: list = []
    nativax.sparsity.clear_cache()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConservativePatternWarning)
        jax.jit(outer).lower(jnp.ones(N), jnp.asarray(IDX))
    assert seen[0].nnz == N * N


# ------------------------------------------------------------------ diffrax, end to end


def _brusselator(m):
    n = 2 * m * m
    h = 1.0 / m
    corner = (np.arange(3), np.arange(3))

    def lap(w):
        return (jnp.roll(w, 1, 0) + jnp.roll(w, -1, 0) + jnp.roll(w, 1, 1) + jnp.roll(w, -1, 1) - 4 * w) / h**2

    def rhs(t, y, args):
        u, v = y.reshape(2, m, m)
        du = 1.0 + u * u * v - 4.0 * u + 0.02 * lap(u)
        dv = 3.0 * u - u * u * v + 0.02 * lap(v)
        du = du.at[corner].add(-0.1 * u[corner])  # corner sink, written the usual way
        return jnp.concatenate([du.ravel(), dv.ravel()])

    y0 = jnp.asarray(np.random.default_rng(0).random(n)) + 1.0
    return rhs, y0, n


class _Spy(nativax.KLU):
    def init(self, operator, options):
        _SEEN.append(nativax.as_sparse_operator(operator, self.pattern).pattern)
        return super().init(operator, options)


_SEEN: list = []


def _stage_pattern(rhs, y0, n):
    """The true pattern of a stage matrix I - c J: the Jacobian's pattern plus the diagonal."""
    p = jacobian_sparsity(lambda y: rhs(0.0, y, None), y0)
    rows = np.concatenate([p.rows, np.arange(n)])
    cols = np.concatenate([p.cols, np.arange(n)])
    return nativax.SparsityPattern.from_coo(rows, cols, (n, n))[0]


@pytest.mark.parametrize("solver", ["Kvaerno5", "Kvaerno3"])
def test_diffrax_implicit_stage_pattern_exact(solver):
    rhs, y0, n = _brusselator(5)
    true = _stage_pattern(rhs, y0, n)

    def solve(linear_solver, y0):
        rf = diffrax.with_stepsize_controller_tols(diffrax.VeryChord)(linear_solver=linear_solver)
        s = getattr(diffrax, solver)(root_finder=rf)
        controller = diffrax.PIDController(rtol=1e-7, atol=1e-9)
        return diffrax.diffeqsolve(diffrax.ODETerm(rhs), s, 0.0, 0.2, 0.02, y0, saveat=diffrax.SaveAt(t1=True),
                                   stepsize_controller=controller, max_steps=500).ys[-1]

    _SEEN.clear()
    nativax.sparsity.clear_cache()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConservativePatternWarning)  # exact: nothing conservative
        warnings.simplefilter("error", SparsityFallbackWarning)
        got = jax.jit(lambda y: solve(_Spy(), y))(y0)
    assert _SEEN and all(p == true for p in _SEEN), [p.nnz for p in _SEEN] + [true.nnz]
    np.testing.assert_allclose(np.asarray(got), _scipy_reference(rhs, y0, 0.2), rtol=1e-5, atol=1e-7)


def _scipy_reference(rhs, y0, t1):
    """scipy's Radau with a tight tolerance and the dense Jacobian (no compilation of a second solve)."""
    from scipy.integrate import solve_ivp

    f = jax.jit(lambda y: rhs(0.0, y, None))
    jac = jax.jit(jax.jacfwd(lambda y: rhs(0.0, y, None)))
    sol = solve_ivp(lambda t, y: np.asarray(f(jnp.asarray(y))), (0.0, t1), np.asarray(y0), method="Radau",
                    rtol=1e-10, atol=1e-12, jac=lambda t, y: np.asarray(jac(jnp.asarray(y))))
    assert sol.success
    return sol.y[:, -1]


# --------------------------------------------------------------- optimistix, end to end


def _bratu(m):
    n = m * m
    h = 1.0 / (m + 1)
    bidx = np.nonzero((np.arange(n) % m == 0) | (np.arange(n) < m))[0]  # Dirichlet rows (fancy index)

    def residual(u, lam):
        w = u.reshape(m, m)
        p = jnp.pad(w, 1)
        r = (-(p[:-2, 1:-1] + p[2:, 1:-1] + p[1:-1, :-2] + p[1:-1, 2:] - 4 * w) / h**2 - lam * jnp.exp(w)).ravel()
        return r.at[bidx].set(u[bidx] - 0.1)

    return residual, n


@functools.lru_cache(maxsize=1)
def _bratu_reference():
    """The root by Newton's method with dense numpy solves (shared by the three tests)."""
    residual, n = _bratu(6)
    f = jax.jit(lambda u: residual(u, 1.0))
    jac = jax.jit(jax.jacfwd(lambda u: residual(u, 1.0)))
    u = np.zeros(n)
    for _ in range(50):
        step = np.linalg.solve(np.asarray(jac(jnp.asarray(u))), np.asarray(f(jnp.asarray(u))))
        u = u - step
        if np.abs(step).max() < 1e-14:
            break
    assert np.abs(np.asarray(f(jnp.asarray(u)))).max() < 1e-9
    return u


@pytest.mark.parametrize("name", ["Newton", "Chord", "Dogleg"])
def test_optimistix_with_exact_pattern(name):
    """optimistix solves inside lineax's own jit, where the index values are out of reach of detection:
    detection warns with the remedy, and the remedy (`pattern=`) gives the exact pattern and the answer."""
    residual, n = _bratu(6)
    y0 = jnp.zeros(n)
    exact = jacobian_sparsity(lambda u: residual(u, 1.0), y0)

    def run(linear_solver):
        if name == "Dogleg":
            solver = optx.Dogleg(rtol=1e-10, atol=1e-10, linear_solver=linear_solver)
            return jax.jit(lambda lam: optx.least_squares(residual, solver, y0, lam, max_steps=200).value)(1.0)
        cls = getattr(optx, name)
        solver = cls(rtol=1e-10, atol=1e-10, linear_solver=linear_solver)
        return jax.jit(lambda lam: optx.root_find(residual, solver, y0, lam, max_steps=200).value)(1.0)

    ref = _bratu_reference()
    _SEEN.clear()
    got = run(_Spy(pattern=exact))
    assert _SEEN and all(p == exact for p in _SEEN)
    np.testing.assert_allclose(np.asarray(got), ref, rtol=1e-8, atol=1e-10)
    if name == "Newton":
        nativax.sparsity.clear_cache()
        with pytest.warns(ConservativePatternWarning, match=r"KLU\(pattern="):
            got = run(nativax.KLU())
        np.testing.assert_allclose(np.asarray(got), ref, rtol=1e-8, atol=1e-10)


def test_index_updates_recipes_example():
    import runpy
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "examples" / "index_updates_recipes.py"
    out = runpy.run_path(str(path), run_name="nativax_example_index_updates")["main"](small=True)
    d, o = out["diffrax"], out["optimistix"]
    assert d["steps"] == d["steps_pattern"] and d["max_diff"] < 1e-10, d
    assert o["residual"] < 1e-8 and o["max_diff"] < 1e-10, o
