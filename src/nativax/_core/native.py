"""Loads the native extension and registers its XLA FFI targets (once, on the CPU platform)."""

import os

import jax

from .. import _nativax as lib  # type: ignore[attr-defined]  # noqa: F401  (compiled extension)
from .env import check_environment


def _register() -> None:
    for name, capsule in lib.ffi_targets().items():
        jax.ffi.register_ffi_target(name, capsule, platform="cpu")


_register()
check_environment(max_threads=int(lib.max_threads_per_core) * (os.cpu_count() or 1))
