"""Algebraic multigrid: host setup (pyamg), hierarchy, cycles, Krylov loops; engines JAX and AmgX."""
