"""Handles to held native factorizations, and the errors they raise."""

from ._direct.handles import FreedHandleError, NumericHandle, SingularMatrixError, SymbolicHandle

__all__ = ["FreedHandleError", "NumericHandle", "SingularMatrixError", "SymbolicHandle"]
