"""Loading the optional extension `nativax._petsc_ext` (built only where CMake found PETSc + MPI).

Before the import: Open MPI's own plugins need `libmpi` loaded with global symbols (an extension is loaded
locally by Python), and a process not started by `mpiexec` (a singleton: one rank) gets loopback-only
transport defaults, so a plain `python` or `pytest` run needs no launcher and no network. The extension
registers its FFI targets with XLA (CPU), joins `nativax.cache_info()`/`clear_caches()`/`finalize()` (which
free cached PETSc objects), and finalizes PETSc (and the MPI it started) at interpreter exit.
"""

from __future__ import annotations

import atexit
import ctypes
import ctypes.util
import os
from typing import Any

import jax

_ext: Any = None
_err: Exception | None = None

# Open MPI MCA defaults for a singleton run (no mpiexec): shared memory + self, loopback out-of-band.
_SINGLETON_MCA = {
    "OMPI_MCA_btl": "self,vader",
    "OMPI_MCA_btl_vader_single_copy_mechanism": "none",
    "OMPI_MCA_pml": "ob1",
    "OMPI_MCA_mtl": "^psm,ofi",
    "OMPI_MCA_oob_tcp_if_include": "lo",
}


def _preload_mpi() -> None:
    if "OMPI_COMM_WORLD_SIZE" not in os.environ and "PMI_SIZE" not in os.environ:
        for k, v in _SINGLETON_MCA.items():
            os.environ.setdefault(k, v)
    name = ctypes.util.find_library("mpi")
    if name:
        try:
            ctypes.CDLL(name, mode=ctypes.RTLD_GLOBAL)
        except OSError:
            pass


def load() -> Any:
    """The extension module, loaded and registered once; None if this build has no PETSc engine."""
    global _ext, _err
    if _ext is None and _err is None:
        try:
            _preload_mpi()
            from .. import _petsc_ext as ext  # type: ignore[attr-defined]

            for name, capsule in ext.ffi_targets().items():
                jax.ffi.register_ffi_target(name, capsule, platform="cpu")
            from .._core.caches import register_engine

            # nativax.finalize() frees the cached PETSc objects only: PETSc (and MPI) cannot be started again
            # in a process once finalized, so PetscFinalize runs at interpreter exit alone.
            register_engine("petsc", lambda: dict(ext.cache_info()), ext.clear_caches, ext.clear_caches)
            atexit.register(ext.finalize)
            _ext = ext
        except ImportError as e:
            _err = e
    return _ext


def require() -> Any:
    """The extension, or a clear error saying how to get it."""
    ext = load()
    if ext is None:
        raise RuntimeError(
            "nativax.PETSc: this build of nativax has no PETSc engine (the extension nativax._petsc_ext was not "
            "built: CMake found no PETSc via pkg-config). On Debian/Ubuntu: `apt-get install "
            "--no-install-recommends libpetsc-real3.18-dev openmpi-bin`, then reinstall nativax from source; "
            f"`nativax.has_petsc` tells. ({_err})"
        )
    return ext


def available() -> bool:
    """Whether this build has the extension (checked without loading PETSc, so `import nativax` stays quick)."""
    import importlib.util

    try:
        return importlib.util.find_spec("nativax._petsc_ext") is not None
    except (ImportError, ValueError):
        return False
