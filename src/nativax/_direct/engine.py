"""`Engine`: what the Python layer knows about one native sparse direct engine (names of its FFI targets and
handle functions), and the registry of engines this build has."""

import dataclasses
from typing import Any

from .._core.native import lib


@dataclasses.dataclass(frozen=True)
class Engine:
    """One native engine. Its FFI targets are `nativax_<name>_solve`, `_solve_symbolic`, `_solve_numeric`;
    its handle and cache functions on the native module are `<name>_analyze`, `_factor`, `_refactor`,
    `_handle_info`, `_cache_info`, `_clear_cache`, `_reset_cache_counters`, `_set_cache_size`,
    `_set_cache_bytes`."""

    name: str
    """Lower-case engine name, e.g. `"cholmod"`."""
    label: str
    """Display name, e.g. `"CHOLMOD"`."""
    cholesky: bool
    """Whether the engine needs a symmetric (Hermitian) positive definite matrix (both triangles stored)."""
    license: str
    """The license of the linked library."""

    @property
    def available(self) -> bool:
        """Whether this build links the engine (CHOLMOD/UMFPACK need `NATIVAX_GPL=ON` and the libraries)."""
        return hasattr(lib, f"{self.name}_analyze")

    def target(self, kind: str) -> str:
        return f"nativax_{self.name}_{kind}"

    def native(self, fn: str) -> Any:
        """The native module's `<name>_<fn>`; a clear error when this build lacks the engine."""
        f = getattr(lib, f"{self.name}_{fn}", None)
        if f is None:
            raise RuntimeError(
                f"nativax: this build does not include {self.label} (built without NATIVAX_GPL or without the "
                f"SuiteSparse {self.label} library); `nativax.has_{self.name}` is False. Use nativax.KLU."
            )
        return f

    def require(self) -> None:
        """Raise the same clear error as `native` when the engine is missing."""
        self.native("analyze")


KLU: Engine = Engine("klu", "KLU", cholesky=False, license="LGPL-2.1+")
CHOLMOD: Engine = Engine("cholmod", "CHOLMOD", cholesky=True, license="LGPL-2.1+ (Core, Cholesky) and GPL-2.0+ (Supernodal)")
UMFPACK: Engine = Engine("umfpack", "UMFPACK", cholesky=False, license="GPL-2.0+")
ENGINES: dict[str, Engine] = {e.name: e for e in (KLU, CHOLMOD, UMFPACK)}
