"""Introspection and control of the native caches and handle registry."""

from ._core.caches import (
    cache_info,
    clear_caches,
    finalize,
    reset_cache_counters,
    set_cache_bytes,
    set_cache_size,
)

__all__ = ["cache_info", "clear_caches", "finalize", "reset_cache_counters", "set_cache_bytes", "set_cache_size"]
