"""Pickling of held handles: a handle pickles as its pattern (and values) and unpickles by re-running
`analyze`/`factor` in the new process (a registry id means nothing there).

Registered with `copyreg` here, beside the functional API that builds handles, so that `handles.py` (the
lifetime rules) does not depend on the engines. Imported by `nativax._direct`, so any program that can make a
handle can pickle it.
"""

import copyreg

import numpy as np

from . import functional
from .engine import ENGINES
from .handles import NumericHandle, SymbolicHandle
from .options import DEFAULT, NativeOptions


def rebuild_symbolic(n: int, rows: np.ndarray, cols: np.ndarray, engine: str = "klu",
                     options: NativeOptions | None = None) -> SymbolicHandle:
    return functional.analyze(ENGINES[engine], rows, cols, n, fn=f"{engine}.analyze (unpickling)",
                              options=DEFAULT if options is None else NativeOptions(*options))


def rebuild_numeric(symbolic: SymbolicHandle, values: np.ndarray) -> NumericHandle:
    engine = ENGINES[symbolic.engine]
    return functional.factor(engine, symbolic, values, fn=f"{symbolic.engine}.factor (unpickling)")


def _reduce_symbolic(h: SymbolicHandle):
    h._pickle_check()
    return rebuild_symbolic, (h.n, h.rows, h.cols, h.engine, getattr(h, "options", None))  # views have none


def _reduce_numeric(h: NumericHandle):
    h._pickle_check()
    return rebuild_numeric, (h.symbolic, np.asarray(h.values))


copyreg.pickle(SymbolicHandle, _reduce_symbolic)
copyreg.pickle(NumericHandle, _reduce_numeric)
