"""Gaussian models with sparse precision (or covariance) matrices on CHOLMOD: log det and its gradient
(`nativax.logdet`), selected inversion (`selected_inverse`, `marginal_variances`), sampling (`sample`), solves
with the factor's pieces (`solve_factor`), and rank-k update/downdate of a held factorization (`update`,
`downdate`). See docs/gaussian-models.md. Only in builds with CHOLMOD (`nativax.has_cholmod`)."""

from ._direct.cholmod.held import UpdatedNumericHandle as UpdatedNumericHandle
from ._direct.cholmod.held import downdate as downdate
from ._direct.cholmod.held import solve_factor as solve_factor
from ._direct.cholmod.held import update as update
from ._direct.cholmod.logdet import logdet as logdet
from ._direct.cholmod.sample import sample as sample
from ._direct.cholmod.selinv import marginal_variances as marginal_variances
from ._direct.cholmod.selinv import selected_inverse as selected_inverse

__all__ = [
    "logdet",
    "selected_inverse",
    "marginal_variances",
    "sample",
    "solve_factor",
    "update",
    "downdate",
    "UpdatedNumericHandle",
]
