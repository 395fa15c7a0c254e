"""Sparse direct solvers: the engine-agnostic layer (shapes, lineax wiring) and one folder per engine."""
