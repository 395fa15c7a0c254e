"""The CHOLMOD engine: supernodal sparse Cholesky for symmetric / Hermitian positive definite operators."""
