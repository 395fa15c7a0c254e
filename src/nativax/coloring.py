"""Column coloring of sparsity patterns (for compressed Jacobians); also re-exported by `nativax.sparsity`."""

from ._sparsity.coloring import color_columns, is_valid_coloring, lower_bound

__all__ = ["color_columns", "is_valid_coloring", "lower_bound"]
