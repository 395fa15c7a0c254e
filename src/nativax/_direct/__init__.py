"""Sparse direct engines (KLU, CHOLMOD, UMFPACK) on one engine-agnostic layer; see `base.py`."""

from . import pickling as pickling  # registers the held handles' reducers
