"""Quick start: solve a sparse system with SuiteSparse KLU through lineax, then differentiate it."""

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import lineax as lx  # noqa: E402
import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402

import nativax  # noqa: E402


def main() -> float:
    n = 1000
    rng = np.random.default_rng(0)
    A = sp.random(n, n, density=5 / n, random_state=rng) + sp.diags(np.full(n, 10.0))
    b = jnp.asarray(rng.standard_normal(n))

    x = lx.linear_solve(nativax.SparseOperator.from_scipy(A), b, solver=nativax.KLU()).value
    residual = float(np.abs(A @ np.asarray(x) - np.asarray(b)).max())
    print(f"KLU solve of a {n} x {n} system with {A.nnz} nonzeros: max residual {residual:.2e}")

    op = nativax.SparseOperator.from_scipy(A)

    @jax.jit
    def loss(values):
        sol = lx.linear_solve(nativax.SparseOperator(values, op.pattern), b, solver=nativax.KLU())
        return jnp.sum(sol.value**2)

    g = jax.grad(loss)(op.values)
    print(f"gradient wrt the {g.size} matrix values: |g| = {float(jnp.linalg.norm(g)):.4e}")
    print("cache:", nativax.cache_info()["klu"]["numeric"])
    return residual


if __name__ == "__main__":
    main()
