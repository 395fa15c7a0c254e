"""Loads the native extension and registers its XLA FFI targets (once, on the CPU platform)."""

import jax

from .. import _nativax as lib  # type: ignore[attr-defined]  # noqa: F401  (compiled extension)


def _register() -> None:
    for name, capsule in lib.ffi_targets().items():
        jax.ffi.register_ffi_target(name, capsule, platform="cpu")


_register()
