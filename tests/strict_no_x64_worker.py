"""Every public path of nativax in float32/complex64 with `jax_enable_x64` off, under lineax's conventions
(`jax_numpy_dtype_promotion="strict"`, `jax_numpy_rank_promotion="raise"`), in a fresh interpreter.

`tests/test_strict_no_x64.py` runs this file as a subprocess (the test process has x64 on) and reports each
check as its own test. Each check raises on failure; the output is one JSON line
``NATIVAX_NO_X64_RESULTS {check name: "ok" | traceback}``. Run directly: ``python tests/strict_no_x64_worker.py``.
"""

import json
import sys
import traceback
import warnings

import jax

jax.config.update("jax_enable_x64", False)
jax.config.update("jax_numpy_dtype_promotion", "strict")
jax.config.update("jax_numpy_rank_promotion", "raise")

import jax.numpy as jnp  # noqa: E402
import lineax as lx  # noqa: E402
import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402

import nativax  # noqa: E402
from nativax import klu, sparsity  # noqa: E402

CHECKS = {}
TOL = 2e-4


def check(f):
    CHECKS[f.__name__] = f
    return f


def matrix(n=16, complex_=False, spd=False, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a = sp.random(n, n, density=0.2, random_state=rng).toarray()
    if complex_:
        a = a + 1j * sp.random(n, n, density=0.2, random_state=rng).toarray()
    a = a + np.diag(np.ones(n - 1), 1)
    if spd:
        a = a + a.conj().T
    return a + np.diag(np.abs(a).sum(axis=1) + 1.0)


def close(x, ref, tol=TOL):
    x = np.asarray(x)
    assert x.dtype in (np.float32, np.complex64), x.dtype
    err = np.abs(x - ref).max() / max(np.abs(ref).max(), 1e-30)
    assert err < tol, err


@check
def x64_is_off_and_strict_is_on():
    assert not jax.config.jax_enable_x64
    assert jnp.ones(2).dtype == jnp.float32
    try:
        jnp.ones(2, jnp.int32) + jnp.ones(2, jnp.float32)
    except jax.dtypes.TypePromotionError:
        pass
    else:
        raise AssertionError("strict dtype promotion is not on")


@check
def operators():
    a = matrix()
    b = np.linspace(-1, 1, a.shape[0])
    coo = sp.coo_matrix(a)
    ops = [
        nativax.SparseOperator.from_scipy(coo),
        nativax.SparseOperator.from_coo(coo.row, coo.col, coo.data.astype(np.float32), a.shape),
        nativax.SparseOperator.from_dense(a.astype(np.float32)),
    ]
    ops.append(nativax.SparseOperator.from_bcoo(ops[0].to_bcoo()))
    for op in ops:
        assert op.values.dtype == jnp.float32
        close(op.as_matrix(), a)
        close(op.mv(jnp.asarray(b, jnp.float32)), a @ b)
        close(op.T.mv(jnp.asarray(b, jnp.float32)), a.T @ b)
        close(lx.diagonal(op), np.diag(a))
        close(lx.tridiagonal(op)[1], np.diag(a, -1))
    for lop in (lx.IdentityLinearOperator(jax.ShapeDtypeStruct((4,), jnp.float32)),
                lx.DiagonalLinearOperator(jnp.arange(1.0, 5.0)),
                lx.TridiagonalLinearOperator(jnp.arange(1.0, 5.0), jnp.ones(3), jnp.ones(3))):
        sop = nativax.as_sparse_operator(lop)
        close(sop.as_matrix(), np.asarray(lop.as_matrix()))
    added = nativax.as_sparse_operator(2.0 * ops[0] + lx.IdentityLinearOperator(ops[0].in_structure()))
    close(added.as_matrix(), 2 * a + np.eye(a.shape[0]))


@check
def klu_functional_and_handles():
    for complex_ in (False, True):
        a = matrix(complex_=complex_, seed=1)
        dt = np.complex64 if complex_ else np.float32
        coo = sp.coo_matrix(a)
        r, c, v = coo.row, coo.col, jnp.asarray(coo.data, dt)
        b = jnp.asarray(np.linspace(-1, 1, a.shape[0]), dt)
        close(klu.solve(r, c, v, b), np.linalg.solve(a, np.asarray(b)))
        close(klu.solve(r, c, v, b, transpose=True), np.linalg.solve(a.T, np.asarray(b)))
        close(klu.dot(r, c, v, b), a @ np.asarray(b))
        close(jax.jit(lambda v, b, r=r, c=c: klu.solve(r, c, v, b))(v, b), np.linalg.solve(a, np.asarray(b)))
        scaled = jax.vmap(lambda s, r=r, c=c, v=v, b=b: klu.solve(r, c, v * s, b))(jnp.asarray([1.0, 2.0], dt))
        close(scaled[1], np.linalg.solve(2 * a, np.asarray(b)))
        sym = klu.analyze(r, c, a.shape[0])
        close(klu.solve_with_symbolic(sym, v, b), np.linalg.solve(a, np.asarray(b)))
        num = klu.factor(sym, v)
        close(klu.solve_with_numeric(num, b), np.linalg.solve(a, np.asarray(b)))
        num = klu.refactor(num, v * jnp.asarray(2.0, dt))
        close(klu.solve_with_numeric(num, b), np.linalg.solve(2 * a, np.asarray(b)))
        klu.free_numeric(num)
        klu.free_symbolic(sym)
    # mixed inputs combine as documented: a real matrix with a complex right-hand side stays complex
    x = klu.solve(r, c, jnp.asarray(coo.data.real, jnp.float32), jnp.asarray(np.asarray(b), jnp.complex64))
    assert x.dtype == jnp.complex64


@check
def klu_gradients():
    a = matrix(seed=2)
    coo = sp.coo_matrix(a)
    r, c = coo.row, coo.col
    v = jnp.asarray(coo.data, jnp.float32)
    b = jnp.asarray(np.linspace(1, 2, a.shape[0]), jnp.float32)
    gv, gb = jax.grad(lambda v, b: jnp.sum(klu.solve(r, c, v, b) ** 2), argnums=(0, 1))(v, b)
    x = np.linalg.solve(a, np.asarray(b, np.float64))
    lam = np.linalg.solve(a.T, 2 * x)
    close(gb, lam, 1e-3)
    close(gv, -lam[r] * x[c], 1e-3)


@check
def lineax_solvers():
    a = matrix(seed=3)
    s = matrix(spd=True, seed=4)
    b = jnp.asarray(np.linspace(-1, 1, a.shape[0]), jnp.float32)
    op = nativax.SparseOperator.from_dense(a.astype(np.float32))
    close(lx.linear_solve(op, b, nativax.KLU()).value, np.linalg.solve(a, np.asarray(b)))
    close(lx.linear_solve(op, b, nativax.KLU.factor(op)).value, np.linalg.solve(a, np.asarray(b)))
    spd_op = nativax.SparseOperator.from_dense(s.astype(np.float32), lx.positive_semidefinite_tag)
    close(lx.linear_solve(spd_op, b, nativax.AMG(rtol=1e-6)).value, np.linalg.solve(s, np.asarray(b)), 1e-3)
    pre = nativax.AMG().preconditioner(spd_op)
    x = lx.linear_solve(spd_op, b, lx.CG(rtol=1e-6, atol=1e-6), options={"preconditioner": pre}).value
    close(x, np.linalg.solve(s, np.asarray(b)), 1e-3)
    dense = lx.MatrixLinearOperator(jnp.asarray(s, jnp.float32), lx.positive_semidefinite_tag)
    close(lx.linear_solve(dense, b, nativax.DistributedCholesky(tile=8)).value, np.linalg.solve(s, np.asarray(b)))


@check
def matrix_free_and_sparsity():
    def f(u, _):
        return 4 * u - jnp.roll(u, 1) + 0.1 * u**3  # the snippet, in float32

    u0 = jnp.ones(20)
    op = lx.JacobianLinearOperator(f, u0, None)
    x = lx.linear_solve(op, jnp.ones(20), nativax.KLU()).value
    close(x, np.linalg.solve(np.asarray(op.as_matrix(), np.float64), np.ones(20)))
    pattern = sparsity.jacobian_sparsity(lambda u: f(u, None), u0)
    assert pattern.nnz == 40, pattern.nnz
    sop = sparsity.to_sparse_operator(op, pattern)
    close(sop.as_matrix(), np.asarray(op.as_matrix()))
    assert sparsity.colors_for(pattern).max() + 1 == 2

    def g(x):  # dict in, tuple out
        return x["a"] * 2.0 - jnp.roll(x["b"], 1)[:3], x["b"] * 3.0 + jnp.sum(x["a"]) * 0.1

    fop = lx.FunctionLinearOperator(g, {"a": jax.ShapeDtypeStruct((3,), jnp.float32),
                                        "b": jax.ShapeDtypeStruct((4,), jnp.float32)})
    rhs = (jnp.ones(3), jnp.arange(4.0))
    sol = lx.linear_solve(fop, rhs, nativax.KLU()).value
    assert set(sol) == {"a", "b"} and sol["a"].dtype == jnp.float32
    close(jnp.concatenate([sol["a"], sol["b"]]),
          np.linalg.solve(np.asarray(fop.as_matrix(), np.float64), np.concatenate([np.ones(3), np.arange(4.0)])))


def main(names):
    results = {}
    for name in names or list(CHECKS):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", nativax.sparsity.SparsityFallbackWarning)
                CHECKS[name]()
            results[name] = "ok"
        except Exception:  # noqa: BLE001 - reported to the test process
            results[name] = traceback.format_exc()
    print("NATIVAX_NO_X64_RESULTS " + json.dumps(results))
    return all(v == "ok" for v in results.values())


if __name__ == "__main__":
    sys.exit(0 if main(sys.argv[1:]) else 1)
