"""Introspection and control of the native caches and handle registry."""

from typing import Any

from .native import lib


def cache_info() -> dict[str, Any]:
    """Per-engine cache statistics: entries, bytes, hits, misses, evictions, plus factorization counts.

    `klu.factorizations` counts full numeric factorizations made by cache-managed solves;
    `klu.refactorizations` counts those served by recycling an entry with `klu_refactor`.
    """
    info: dict[str, Any] = {"klu": dict(lib.cache_info()), "handles": {"live": int(lib.live_handles())}}
    for name, extra in _extra_engines.items():
        info[name] = extra()
    return info


def clear_caches() -> None:
    """Drop every cached analysis/factorization (solves in flight keep what they use until they finish)."""
    lib.clear_caches()
    for clear in _extra_clear.values():
        clear()


def set_cache_size(entries: int) -> None:
    """Set the KLU cache capacity (entries per cache). 0 = isolated mode: build and free on every call."""
    if not isinstance(entries, int) or isinstance(entries, bool) or entries < 0:
        raise ValueError(f"`entries` must be a non-negative int, got {entries!r}")
    lib.set_cache_size(entries)


def set_cache_bytes(max_bytes: int) -> None:
    """Set the byte budget of the KLU numeric cache (least-recently-used entries are evicted beyond it)."""
    if not isinstance(max_bytes, int) or isinstance(max_bytes, bool) or max_bytes < 0:
        raise ValueError(f"`max_bytes` must be a non-negative int, got {max_bytes!r}")
    lib.set_cache_bytes(max_bytes)


def reset_cache_counters() -> None:
    """Zero the hit/miss/eviction/factorization counters (entries are kept)."""
    lib.reset_cache_counters()


def finalize() -> None:
    """Free every cached object and every live handle. Handles still referenced become 'freed'."""
    for fin in _extra_finalize.values():
        fin()
    lib.finalize()


# Optional engines (AmgX, cuSOLVERMg) register their own hooks here when they are importable.
_extra_engines: dict[str, Any] = {}
_extra_clear: dict[str, Any] = {}
_extra_finalize: dict[str, Any] = {}


def register_engine(name: str, info, clear, finalize_fn) -> None:
    """Let an optional native engine join `cache_info`/`clear_caches`/`finalize`."""
    _extra_engines[name] = info
    _extra_clear[name] = clear
    _extra_finalize[name] = finalize_fn
