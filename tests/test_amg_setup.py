"""nativax.AMG host setup (native kernels vs scipy/pyamg references), differentiable numeric resetup, and the
held-setup preconditioner inside lineax's Krylov solvers (jit / vmap / grad, tolerance, no constants)."""

import equinox as eqx
import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np
import pytest
import scipy.sparse as sp

from nativax import SparseOperator
from nativax._amg import aggregation as agg
from nativax._amg import hierarchy as hier
from nativax._amg import setup as setup_
from nativax._core import native
from nativax.amg import AMG, setup_info

SPD = (lx.symmetric_tag, lx.positive_semidefinite_tag)


def poisson2d(m: int) -> sp.csr_matrix:
    t = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(m, m))
    return (sp.kron(t, sp.identity(m)) + sp.kron(sp.identity(m), t)).tocsr()


def jumps2d(m: int, contrast: float = 1e4) -> sp.csr_matrix:
    """-div(k grad u), k = 1 or `contrast` on 4 x 4 tiles (checkerboard), harmonic face means, Dirichlet."""
    k = np.where((np.arange(m)[:, None] // 4 + np.arange(m)[None, :] // 4) % 2 == 0, contrast, 1.0)
    idx = np.arange(m * m).reshape(m, m)
    a = sp.lil_matrix((m * m, m * m))
    diag = np.zeros((m, m))
    for (i0, j0), (i1, j1) in (((slice(0, -1), slice(None)), (slice(1, None), slice(None))),
                               ((slice(None), slice(0, -1)), (slice(None), slice(1, None)))):
        kf = 2 * k[i0, j0] * k[i1, j1] / (k[i0, j0] + k[i1, j1])
        a[idx[i0, j0].ravel(), idx[i1, j1].ravel()] = -kf.ravel()
        a[idx[i1, j1].ravel(), idx[i0, j0].ravel()] = -kf.ravel()
        diag[i0, j0] += kf
        diag[i1, j1] += kf
    diag[0, :] += k[0, :]
    diag[-1, :] += k[-1, :]
    diag[:, 0] += k[:, 0]
    diag[:, -1] += k[:, -1]
    a.setdiag(diag.ravel())
    return a.tocsr()


def relres(a, x, b) -> float:
    return float(np.linalg.norm(b - a @ np.asarray(x)) / np.linalg.norm(b))


# ---- native kernels against references ------------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_standard_aggregation_matches_pyamg(seed):
    from pyamg.aggregation.aggregate import standard_aggregation

    n = 300
    r = sp.random(n, n, density=0.01, random_state=seed)
    s = ((r + r.T) != 0).astype(np.float64).tocsr()
    s.setdiag(0)
    s.eliminate_zeros()
    a = (-s + sp.identity(n) * 10).tocsr()
    ref_op, _ = standard_aggregation(s)
    ref = np.full(n, -1)
    coo = ref_op.tocoo()
    ref[coo.row] = coo.col
    mine, count = agg.aggregate(a, 0.0)
    assert count == ref_op.shape[1]
    np.testing.assert_array_equal(mine, ref)


@pytest.mark.parametrize("variable_left", [True, False])
def test_product_map_matches_scipy(variable_left):
    rng = np.random.default_rng(3)
    left = sp.random(40, 30, density=0.1, random_state=4, format="csr")
    right = sp.random(30, 25, density=0.1, random_state=5, format="csr")
    left.sort_indices()
    right.sort_indices()
    fixed = right if variable_left else left
    c_ptr, c_idx, m_ptr, m_idx, m_dat, m_rows = native.lib.amg_product_map(
        left.indptr.astype(np.int64), left.indices.astype(np.int32), 30, right.indptr.astype(np.int64),
        right.indices.astype(np.int32), 25, fixed.data.astype(np.float64), variable_left)
    var = left if variable_left else right
    values = rng.standard_normal(var.nnz)
    g = sp.csr_matrix((m_dat, m_idx, m_ptr), shape=(len(c_idx), var.nnz))
    np.testing.assert_array_equal(m_rows, np.repeat(np.arange(len(c_idx)), np.diff(m_ptr)))
    var = sp.csr_matrix((values, var.indices, var.indptr), shape=var.shape)
    prod = sp.csr_matrix((g @ values, c_idx, c_ptr), shape=(40, 25))
    ref = (var @ right) if variable_left else (left @ var)
    np.testing.assert_allclose(prod.toarray(), ref.toarray(), atol=1e-14)
    # The structure is the full structural product (sorted columns), whatever the values.
    struct = ((abs(left) @ abs(right)) != 0).astype(np.float64).tocsr()
    struct.sort_indices()
    np.testing.assert_array_equal(np.asarray(c_ptr), struct.indptr)
    np.testing.assert_array_equal(np.asarray(c_idx), struct.indices)


def test_native_kernels_bad_input():
    ptr, idx = np.array([0, 1, 2], np.int64), np.array([1, 5], np.int32)
    with pytest.raises(ValueError, match="indices"):
        native.lib.amg_standard_aggregation(ptr, idx)
    with pytest.raises(ValueError, match="indptr"):
        native.lib.amg_standard_aggregation(np.array([0, 3, 2], np.int64), idx)
    good = np.array([0, 1], np.int32)
    with pytest.raises(ValueError, match="out of range"):
        native.lib.amg_product_map(ptr, idx, 2, ptr, good, 2, np.ones(2), True)
    with pytest.raises(ValueError, match="coeff"):
        native.lib.amg_product_map(ptr, good, 2, ptr, good, 2, np.ones(5), True)


# ---- the hierarchy -------------------------------------------------------------------------------------
def test_native_hierarchy_properties():
    a = poisson2d(30)
    op = SparseOperator.from_scipy(a, tags=SPD)
    lazy = setup_.build(op.pattern, np.asarray(op.values), "smoothed_aggregation", 10, 20, "native", 0.02)
    assert not lazy.has_maps  # a setup computes the coarse operators directly; maps only on demand
    sym = lazy.with_maps()
    assert sym.has_maps and lazy.with_maps() is sym  # made once, then kept
    sizes = [lv.a.n_rows for lv in sym.levels]
    assert sizes[0] == 900 and sizes[-1] <= 20 and all(x > y for x, y in zip(sizes, sizes[1:]))
    ak = a
    for lv, nxt in zip(sym.levels[:-1], sym.levels[1:]):
        p = sp.csr_matrix((lv.p.data, lv.p.indices, lv.p.indptr), shape=(lv.p.n_rows, lv.p.n_cols))
        r = sp.csr_matrix((lv.r.data, lv.r.indices, lv.r.indptr), shape=(lv.r.n_rows, lv.r.n_cols))
        np.testing.assert_allclose(r.toarray(), p.T.toarray())  # R = P^T
        # Jacobi-smoothed tentative prolongator: P = (I - omega/rho D^-1 A) T with rho the Gershgorin bound.
        d = ak.diagonal()
        rho = np.max(abs(ak).sum(axis=1).A1 / np.abs(d))
        assert rho >= np.max(np.abs(np.linalg.eigvals(ak.toarray() / d[:, None]))) - 1e-12
        # The maps give R A P for the setup values and for new values with the same pattern.
        for vals in (ak.data, np.random.default_rng(0).uniform(1, 2, ak.nnz)):
            m = sp.csr_matrix((vals, ak.indices, ak.indptr), shape=ak.shape)
            g_ap = sp.csr_matrix((lv.g_ap.data, lv.g_ap.indices, lv.g_ap.indptr), shape=(lv.g_ap.n_rows, m.nnz))
            g_c = sp.csr_matrix((lv.g_c.data, lv.g_c.indices, lv.g_c.indptr), shape=(lv.g_c.n_rows, g_ap.shape[0]))
            ac = sp.csr_matrix((g_c @ (g_ap @ vals), nxt.a.indices, nxt.a.indptr), shape=(nxt.a.n_rows,) * 2)
            np.testing.assert_allclose(ac.toarray(), (r @ m @ p).toarray(), atol=1e-12)
        ak = sp.csr_matrix((g_c @ (g_ap @ ak.data), nxt.a.indices, nxt.a.indptr), shape=(nxt.a.n_rows,) * 2)
        # The direct (map-free) coarse values of the setup are the same, on the same structural pattern.
        np.testing.assert_allclose(sym.level_values[sym.levels.index(nxt)], ak.data, atol=1e-12)
        assert np.all(np.linalg.eigvalsh(ak.toarray()) > 0)  # Galerkin operators stay SPD


@pytest.mark.parametrize("build", [lambda: poisson2d(40), lambda: jumps2d(32)])
def test_native_setup_iterations_close_to_pyamg_setup(build):
    a = build()
    b = np.random.default_rng(0).standard_normal(a.shape[0])
    op = SparseOperator.from_scipy(a, tags=SPD)
    steps = {}
    for host in ("native", "pyamg"):
        sol = lx.linear_solve(op, jnp.asarray(b), AMG(krylov="cg", max_coarse=30, host_setup=host).setup(op))
        assert relres(a, sol.value, b) < 1e-8
        steps[host] = int(sol.stats["num_steps"])
    assert steps["native"] <= steps["pyamg"] + 3, steps


def test_strength_threshold_cuts_coefficient_jumps():
    a = jumps2d(32)
    b = np.random.default_rng(1).standard_normal(a.shape[0])
    op = SparseOperator.from_scipy(a, tags=SPD)
    steps = [int(lx.linear_solve(op, jnp.asarray(b), AMG(krylov="cg", max_coarse=30, theta=t, max_steps=400))
                 .stats["num_steps"]) for t in (0.0, 0.02)]
    assert steps[1] < steps[0] / 2, steps


def test_lazy_maps_one_shot_and_new_values():
    a = poisson2d(24)
    op = SparseOperator.from_scipy(a, tags=SPD)
    solver = AMG(max_coarse=30, rtol=1e-10).setup(op, resetup=False)
    held = solver.held_setup.symbolic
    assert not solver.structure.galerkin and not held._mapped  # one-shot setup: no Galerkin maps made
    full = AMG(max_coarse=30, rtol=1e-10).setup(op, resetup=True)
    h_lazy, h_full = solver.hierarchy(op).hierarchy, full.hierarchy(op).hierarchy
    assert not held._mapped  # the setup values need no maps
    for lz, fl in zip(h_lazy.levels, h_full.levels):
        np.testing.assert_allclose(lz.a.data, fl.a.data, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(lz.rho, fl.rho, rtol=1e-10)
    # Concrete new values: the maps are made once and every level follows the new values.
    d = sp.diags(1.0 + np.random.default_rng(5).random(a.shape[0]))
    new = SparseOperator.from_scipy((d @ a @ d).tocsr(), tags=SPD)
    h_new = solver.hierarchy(new).hierarchy
    assert len(held._mapped) == 1
    ref = full.hierarchy(new).hierarchy
    for lz, fl in zip(h_new.levels, ref.levels):
        np.testing.assert_allclose(lz.a.data, fl.a.data, rtol=1e-12, atol=1e-12)
    # Traced new values with the one-shot setup: level 0 is exact (so is the solution); coarse levels are the
    # setup's.
    b = np.random.default_rng(6).standard_normal(a.shape[0])
    x = jax.jit(lambda s, o, v: lx.linear_solve(o, v, s).value)(solver, new, jnp.asarray(b))
    assert relres((d @ a @ d).tocsr(), x, b) < 1e-9
    with pytest.raises(ValueError, match="resetup"):
        AMG().setup(op, resetup="yes")


def test_option_errors():
    with pytest.raises(ValueError, match="host_setup"):
        AMG(host_setup="scipy")
    with pytest.raises(ValueError, match="theta"):
        AMG(theta=-0.1)
    with pytest.raises(ValueError, match="theta"):
        AMG(theta=float("nan"))


def test_resetup_is_differentiable():
    a = poisson2d(16)
    op = SparseOperator.from_scipy(a, tags=SPD)
    structure = AMG(max_coarse=20).setup(op, resetup=True).structure
    assert structure.galerkin

    def f(v):
        h = hier.resetup(structure, v)
        return jnp.sum(h.levels[-1].a.data ** 2) + h.levels[1].rho + jnp.sum(h.lu)

    v = op.values
    d = jnp.asarray(np.random.default_rng(0).standard_normal(v.shape))
    f_jit = jax.jit(f)
    fd = (f_jit(v + 1e-6 * d) - f_jit(v - 1e-6 * d)) / 2e-6
    np.testing.assert_allclose(jax.jit(jax.grad(f))(v) @ d, fd, rtol=1e-6)
    np.testing.assert_allclose(jax.jit(lambda v, d: jax.jvp(f, (v,), (d,))[1])(v, d), fd, rtol=1e-6)


# ---- held setup as a lineax preconditioner ----------------------------------------------------------------
@pytest.fixture(scope="module")
def held():
    a = poisson2d(40)
    op = SparseOperator.from_scipy(a, tags=SPD)
    return a, op, AMG(max_coarse=30).setup(op)


@pytest.mark.parametrize("which", ["cg", "gmres", "bicgstab"])
def test_preconditioner_in_lineax_krylov_under_jit(held, which):
    a, op, solver = held
    b = np.random.default_rng(2).standard_normal(a.shape[0])
    rtol = 1e-8
    # lineax's rule is elementwise (|r_i| <= atol + rtol |b_i|, max norm): atol = rtol ||b||_inf gives
    # ||r||_inf <~ rtol ||b||_inf, close to the usual relative residual.
    atol = rtol * float(np.max(np.abs(b)))
    krylov = {"cg": lx.CG(rtol=rtol, atol=atol), "gmres": lx.GMRES(rtol=rtol, atol=atol, restart=20),
              "bicgstab": lx.BiCGStab(rtol=rtol, atol=atol)}[which]
    before = setup_info()["setups"]

    @jax.jit
    def solve(solver, op, b):
        return lx.linear_solve(op, b, krylov, options={"preconditioner": solver.preconditioner(op)})

    sol = solve(solver, op, jnp.asarray(b))
    assert setup_info()["setups"] == before  # no host setup: the held structure is used
    res = relres(a, sol.value, b)
    assert res < 10 * rtol, res
    if which != "gmres":  # GMRES checks only at its restarts (a strong preconditioner ends a cycle far below)
        assert res > 1e-12, res  # stopped near the tolerance, not at machine precision
    assert int(sol.stats["num_steps"]) < 40


def test_preconditioner_holds_arrays_as_leaves_not_constants(held):
    a, op, solver = held
    b = jnp.ones(a.shape[0])
    precond = solver.preconditioner(op)
    assert any(x.size >= a.nnz for x in jax.tree_util.tree_leaves(precond) if hasattr(x, "size"))

    def solve(op, precond, b):
        return lx.linear_solve(op, b, lx.CG(rtol=1e-8, atol=1e-8), options={"preconditioner": precond}).value

    closed, _, _ = eqx.filter_make_jaxpr(solve)(op, precond, b)
    big = [c for c in closed.consts if getattr(c, "size", 0) > 100]
    assert not big  # the hierarchy comes in as arguments, never as constants
    x = eqx.filter_jit(solve)(op, precond, b)  # the operator holds a jaxpr too: filter_jit (or pass the solver)
    assert relres(a, x, np.ones(a.shape[0])) < 1e-7


def test_preconditioner_vmap_and_grad(held):
    a, op, solver = held
    bs = jnp.asarray(np.random.default_rng(4).standard_normal((3, a.shape[0])))
    cg = lx.CG(rtol=1e-10, atol=1e-10)

    def solve(solver, values, b):
        o = SparseOperator(values, op.pattern, op.tags)
        return lx.linear_solve(o, b, cg, options={"preconditioner": solver.preconditioner(o)}).value

    xs = jax.jit(jax.vmap(solve, in_axes=(None, None, 0)))(solver, op.values, bs)
    ref = np.linalg.solve(a.toarray(), np.asarray(bs).T).T
    np.testing.assert_allclose(xs, ref, rtol=1e-6, atol=1e-8)

    def loss(values):
        return jnp.sum(solve(solver, values, bs[0]) ** 2)

    def dense_loss(values):
        return jnp.sum(jnp.linalg.solve(SparseOperator(values, op.pattern, op.tags).as_matrix(), bs[0]) ** 2)

    g = jax.jit(jax.grad(loss))(op.values)
    np.testing.assert_allclose(g, jax.grad(dense_loss)(op.values), rtol=1e-5, atol=1e-8)


def test_preconditioner_pattern_mismatch(held):
    _, _, solver = held
    other = SparseOperator.from_scipy(poisson2d(10), tags=SPD)
    with pytest.raises(ValueError, match="pattern"):
        solver.preconditioner(other)
