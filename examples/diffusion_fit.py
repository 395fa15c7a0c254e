"""Recover the diffusivity of a 2-D diffusion PDE from sensor readings, by gradient descent through KLU.

The forward model is the steady diffusion equation  -div(k(x, y) grad u) = f  on the unit square with u = 0 on
the boundary, discretised by finite differences on an N x N grid of interior nodes (N = 100 gives n = 10,000
unknowns). The diffusivity is log k(x, y) = sum_pq theta_pq cos(p pi x) cos(q pi y), p, q in {0, 1, 2}: nine
parameters. Three experiments (three different sources f) are observed at a coarse grid of sensors.

Every loss evaluation assembles the sparse matrix from theta in JAX, solves the three systems with
`lx.linear_solve(SparseOperator, b, solver=nativax.KLU())` (vmapped over the right-hand sides: one native call,
one factorization) and `jax.grad` differentiates through the solve: the adjoint solve reuses the cached forward
factorization (KLU's transposed solve), so each step costs one sparse LU. Adam is written out inline.

Run:  python examples/diffusion_fit.py [--small]
"""

import argparse
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import lineax as lx  # noqa: E402
import numpy as np  # noqa: E402

import nativax  # noqa: E402

MODES = [(p, q) for p in range(3) for q in range(3)]
THETA_TRUE = np.array([0.3, 0.5, -0.4, -0.6, 0.25, 0.2, 0.35, -0.2, 0.15])


class DiffusionProblem:
    """Finite-difference operator -div(k grad u) on an N x N interior grid with homogeneous Dirichlet BCs.

    The sparsity pattern is computed once (numpy); `operator(theta)` only computes the nonzero values, in JAX,
    so it is traceable and differentiable wrt theta.
    """

    def __init__(self, n_grid: int):
        self.n_grid = N = n_grid
        self.h = h = 1.0 / (N + 1)
        self.n = N * N
        # k lives on all (N + 2)^2 grid nodes, boundary included.
        coords = np.linspace(0.0, 1.0, N + 2)
        X, Y = np.meshgrid(coords, coords, indexing="ij")
        self.basis = jnp.asarray(np.stack([np.cos(p * np.pi * X) * np.cos(q * np.pi * Y) for p, q in MODES], -1))

        def interior(i, j):  # interior node (i, j) in 1..N -> unknown index, else -1
            inside = (i >= 1) & (i <= N) & (j >= 1) & (j <= N)
            return np.where(inside, (i - 1) * N + (j - 1), -1)

        # Faces between a node and its +x / +y neighbour; each face contributes kf * (u_a - u_b) / h^2.
        gi, gj = np.meshgrid(np.arange(N + 2), np.arange(N + 2), indexing="ij")
        rows, cols, faces, signs = [], [], [], []
        face_a, face_b = [], []
        n_faces = 0
        for di, dj in ((1, 0), (0, 1)):
            Ia, Ja = gi[: N + 2 - di, : N + 2 - dj].ravel(), gj[: N + 2 - di, : N + 2 - dj].ravel()
            Ib, Jb = Ia + di, Ja + dj
            a, b = interior(Ia, Ja), interior(Ib, Jb)
            keep = (a >= 0) | (b >= 0)
            Ia, Ja, Ib, Jb, a, b = (v[keep] for v in (Ia, Ja, Ib, Jb, a, b))
            fid = n_faces + np.arange(a.size)
            n_faces += a.size
            face_a.append(Ia * (N + 2) + Ja)
            face_b.append(Ib * (N + 2) + Jb)
            for r, c, s, m in ((a, a, 1.0, a >= 0), (b, b, 1.0, b >= 0), (a, b, -1.0, (a >= 0) & (b >= 0)),
                               (b, a, -1.0, (a >= 0) & (b >= 0))):
                rows.append(r[m])
                cols.append(c[m])
                faces.append(fid[m])
                signs.append(np.full(m.sum(), s))
        self.face_a = np.concatenate(face_a)
        self.face_b = np.concatenate(face_b)
        self.face_of_entry = np.concatenate(faces)
        self.sign_of_entry = jnp.asarray(np.concatenate(signs) / h**2)
        # Canonicalise the COO triplets once: `where[k]` is the pattern slot of triplet k (duplicates summed).
        self.pattern, self.where = nativax.SparsityPattern.from_coo(
            np.concatenate(rows), np.concatenate(cols), (self.n, self.n)
        )
        # Interior node coordinates and three sources (Gaussian blobs in different places).
        xi = coords[1:-1]
        Xi, Yi = np.meshgrid(xi, xi, indexing="ij")
        blobs = [(0.3, 0.3), (0.7, 0.4), (0.45, 0.75)]
        self.sources = jnp.asarray(
            np.stack([50.0 * np.exp(-((Xi - cx) ** 2 + (Yi - cy) ** 2) / 0.02).ravel() for cx, cy in blobs])
        )
        # Sensors: every 5th interior node in each direction (4% of the nodes for N = 100).
        stride = max(N // 20, 2)
        s = np.arange(stride // 2, N, stride)
        self.sensors = (s[:, None] * N + s[None, :]).ravel()

    def diffusivity(self, theta):
        return jnp.exp(self.basis @ theta).ravel()  # on all (N + 2)^2 nodes

    def operator(self, theta) -> nativax.SparseOperator:
        k = self.diffusivity(theta)
        k_face = 0.5 * (k[self.face_a] + k[self.face_b])
        triplets = self.sign_of_entry * k_face[self.face_of_entry]
        values = jnp.zeros(self.pattern.nnz, triplets.dtype).at[self.where].add(triplets)
        return nativax.SparseOperator(values, self.pattern, lx.symmetric_tag)

    def solve(self, theta):
        """Solutions of the three experiments, shape (3, n)."""
        op = self.operator(theta)
        solve_one = lambda b: lx.linear_solve(op, b, solver=nativax.KLU()).value  # noqa: E731
        return jax.vmap(solve_one)(self.sources)


def main(small: bool = False, seed: int = 0) -> dict:
    n_grid, steps, lr = (30, 120, 0.05) if small else (100, 200, 0.05)
    problem = DiffusionProblem(n_grid)
    print(f"2-D diffusion, {n_grid} x {n_grid} grid: n = {problem.n} unknowns, nnz = {problem.pattern.nnz}, "
          f"{len(MODES)} diffusivity parameters, 3 experiments x {problem.sensors.size} sensors")

    theta_true = jnp.asarray(THETA_TRUE)
    rng = np.random.default_rng(seed)
    u_true = problem.solve(theta_true)[:, problem.sensors]
    observed = u_true * (1.0 + 1e-4 * rng.standard_normal(u_true.shape))  # 0.01 % sensor noise
    scale = jnp.mean(observed**2)

    @jax.jit
    def loss_fn(theta):
        u = problem.solve(theta)[:, problem.sensors]
        return jnp.mean((u - observed) ** 2) / scale

    value_and_grad = jax.jit(jax.value_and_grad(loss_fn))

    # Check the gradient once against central finite differences along a random direction.
    theta0 = jnp.zeros(len(MODES))
    direction = jnp.asarray(rng.standard_normal(len(MODES)))
    _, g0 = value_and_grad(theta0)
    eps = 1e-5
    fd = (loss_fn(theta0 + eps * direction) - loss_fn(theta0 - eps * direction)) / (2 * eps)
    grad_rel_err = float(abs(g0 @ direction - fd) / abs(fd))
    print(f"gradient check at theta = 0: autodiff {float(g0 @ direction):.8e}, finite differences "
          f"{float(fd):.8e}, relative error {grad_rel_err:.1e}")

    # Adam, written out.
    b1, b2, adam_eps = 0.9, 0.999, 1e-12
    theta, m, v = theta0, jnp.zeros_like(theta0), jnp.zeros_like(theta0)
    losses = []
    t0 = time.perf_counter()
    for it in range(1, steps + 1):
        loss, g = value_and_grad(theta)
        losses.append(float(loss))
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        theta = theta - lr * (m / (1 - b1**it)) / (jnp.sqrt(v / (1 - b2**it)) + adam_eps)
        if it == 1 or it % (steps // 10) == 0:
            err = float(jnp.max(jnp.abs(theta - theta_true)))
            print(f"  step {it:4d}   loss {float(loss):.3e}   max |theta - theta_true| {err:.3e}")
    elapsed = time.perf_counter() - t0
    final_loss = float(loss_fn(theta))
    losses.append(final_loss)
    theta_err = float(jnp.max(jnp.abs(theta - theta_true)))
    print(f"loss {losses[0]:.3e} -> {final_loss:.3e} (x{losses[0] / final_loss:.1e} lower) in {steps} Adam steps, "
          f"{1e3 * elapsed / steps:.1f} ms per step (solve + gradient)")
    print("theta_true :", np.array2string(np.asarray(theta_true), precision=3, suppress_small=True))
    print("theta_fit  :", np.array2string(np.asarray(theta), precision=3, suppress_small=True))
    klu = nativax.cache_info()["klu"]
    print(f"KLU cache  : {klu['numeric']['misses']} misses (forward solves), {klu['numeric']['hits']} hits (adjoint "
          f"solves reuse the forward factorization); {klu['factorizations']} full factorizations, "
          f"{klu['refactorizations']} klu_refactor recycling a cache entry")
    return {
        "losses": losses,
        "theta": np.asarray(theta),
        "theta_true": np.asarray(theta_true),
        "theta_error": theta_err,
        "theta_error_initial": float(jnp.max(jnp.abs(theta0 - theta_true))),
        "grad_rel_err": grad_rel_err,
        "ms_per_step": 1e3 * elapsed / steps,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="30 x 30 grid and fewer steps (used by the tests)")
    main(small=parser.parse_args().small)
