"""Graph colorings of sparsity patterns (column, row and star colorings for compressed Jacobians and
Hessians); also re-exported by `nativax.sparsity`."""

from ._sparsity.coloring import (
    color_columns,
    color_rows,
    color_star,
    is_valid_coloring,
    is_valid_star_coloring,
    lower_bound,
    star_recovery,
)

__all__ = [
    "color_columns",
    "color_rows",
    "color_star",
    "is_valid_coloring",
    "is_valid_star_coloring",
    "lower_bound",
    "star_recovery",
]
