"""Ordering and pivoting controls of the sparse direct engines (`ordering`, `pivot_tol`, `scale`).

They are static solver configuration: they reach the native side as FFI attributes (or handle-API arguments)
and become part of the symbolic analysis, so the engine's cache keys them (`native/common/options.h`) and two
solvers with different options never share an analysis or a factorization. What each engine supports:

| engine  | orderings                                                   | `pivot_tol`        | `scale`            |
|---------|-------------------------------------------------------------|--------------------|--------------------|
| KLU     | default (AMD), natural, amd, colamd, a permutation          | yes (default 1e-3) | yes (default max)  |
| UMFPACK | default (AMD/COLAMD, METIS on high fill), natural, amd, colamd, metis, a permutation | yes (0.1) | yes (sum) |
| CHOLMOD | default (AMD, METIS on high fill), natural, amd, metis, nesdis, a permutation | no (no pivoting) | no |
"""

from typing import Any, NamedTuple

import numpy as np

# Codes shared with native/common/options.h (Ordering).
ORDERING_CODES = {"default": 0, "natural": 1, "amd": 2, "colamd": 3, "metis": 4, "nesdis": 5}
GIVEN = 6
SCALE_CODES = {"none": 0, "sum": 1, "max": 2}

SUPPORTED_ORDERINGS = {
    "klu": ("default", "natural", "amd", "colamd"),
    "umfpack": ("default", "natural", "amd", "colamd", "metis"),
    "cholmod": ("default", "natural", "amd", "metis", "nesdis"),
}
HAS_PIVOTING = {"klu": True, "umfpack": True, "cholmod": False}

Ordering = str | tuple[int, ...]


class NativeOptions(NamedTuple):
    """What the native side receives: an ordering code, pivot tolerance (< 0: default), scale code (< 0:
    default) and the permutation (int64; [-1] when none is given, an FFI attribute is never empty)."""

    ordering: int
    pivot_tol: float
    scale: int
    perm: np.ndarray


def convert_ordering(ordering: Any) -> Any:
    """Field converter: a permutation (sequence or array of ints) becomes a hashable tuple of ints; a string
    is lower-cased; anything else is left for `check` to reject."""
    if isinstance(ordering, str):
        return ordering.lower()
    if isinstance(ordering, (list, tuple, np.ndarray)):
        a = np.asarray(ordering)
        if a.ndim == 1 and (a.size == 0 or np.issubdtype(a.dtype, np.integer)):
            return tuple(int(i) for i in a)
    return ordering


def check(label: str, engine: str, ordering: Any, pivot_tol: Any, scale: Any) -> None:
    """Raise a ValueError naming the argument and the engine for anything `engine` cannot do."""
    supported = SUPPORTED_ORDERINGS[engine]
    if isinstance(ordering, str):
        if ordering not in supported:
            raise ValueError(
                f"nativax.{label}: `ordering` must be one of {', '.join(map(repr, supported))} or a permutation "
                f"of range(n) for {label}, got {ordering!r}"
            )
    elif isinstance(ordering, tuple):
        if sorted(ordering) != list(range(len(ordering))):
            raise ValueError(
                f"nativax.{label}: `ordering` given as a permutation must contain each of 0..n-1 exactly once, got "
                f"{_short(ordering)}"
            )
    else:
        raise ValueError(
            f"nativax.{label}: `ordering` must be a string ({', '.join(map(repr, supported))}) or a 1-D "
            f"permutation of range(n), got {ordering!r}"
        )
    for arg, v in (("pivot_tol", pivot_tol), ("scale", scale)):
        if v is not None and not HAS_PIVOTING[engine]:
            raise ValueError(
                f"nativax.{label}: `{arg}` is not supported by {label} (Cholesky has no pivoting or scaling); "
                f"leave it None, or use nativax.KLU / nativax.UMFPACK"
            )
    if pivot_tol is not None and (isinstance(pivot_tol, bool) or not isinstance(pivot_tol, (int, float, np.floating))
                                  or not (0 < pivot_tol <= 1)):
        raise ValueError(f"nativax.{label}: `pivot_tol` must be None or a float in (0, 1], got {pivot_tol!r}")
    if scale is not None and scale not in SCALE_CODES:
        raise ValueError(
            f"nativax.{label}: `scale` must be None or one of {', '.join(map(repr, SCALE_CODES))}, got {scale!r}"
        )


def check_size(label: str, ordering: Any, n: int) -> None:
    """A given permutation must have the operator's size."""
    if isinstance(ordering, tuple) and len(ordering) != n:
        raise ValueError(
            f"nativax.{label}: `ordering` is a permutation of length {len(ordering)} but the operator is {n} x {n}"
        )


def native(ordering: Any, pivot_tol: float | None, scale: str | None) -> NativeOptions:
    """The (already checked) options as the native side takes them."""
    if isinstance(ordering, tuple):
        code, perm = GIVEN, np.asarray(ordering, np.int64)
    else:
        code, perm = ORDERING_CODES[ordering], np.array([-1], np.int64)
    return NativeOptions(code, -1.0 if pivot_tol is None else float(pivot_tol),
                         -1 if scale is None else SCALE_CODES[scale], perm)


DEFAULT = native("default", None, None)


def checked_native(label: str, engine: str, ordering: Any, pivot_tol: Any, scale: Any,
                   n: int | None = None) -> NativeOptions:
    """`check` (and `check_size` when n is known), then `native`: for the functional API's `analyze`."""
    ordering = convert_ordering(ordering)
    check(label, engine, ordering, pivot_tol, scale)
    if n is not None:
        check_size(label, ordering, n)
    return native(ordering, pivot_tol, scale)


def _short(t: tuple[int, ...]) -> str:
    return repr(t) if len(t) <= 8 else f"({', '.join(map(str, t[:8]))}, ... {len(t)} entries)"
