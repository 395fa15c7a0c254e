"""Core: sparsity pattern, SparseOperator and its lineax dispatch, conversion, status codes, caches, handles, native loading."""
