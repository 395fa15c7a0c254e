"""Sparse direct engines (KLU, CHOLMOD, UMFPACK) on one engine-agnostic layer; see `base.py`."""
