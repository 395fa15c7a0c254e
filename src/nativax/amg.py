"""Algebraic multigrid: the `AMG` lineax solver and its host-setup introspection."""

from ._amg.solver import AMG, clear_setup_cache, setup_info

__all__ = ["AMG", "clear_setup_cache", "setup_info"]
