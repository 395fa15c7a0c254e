"""Checks the `NATIVAX_*` environment variables once, at import, so a bad value is never silently ignored.

The native side reads the same variables (caches on first use, the thread pool when first needed) and falls
back to its default for an unusable value; this module says so with a `NativaxEnvWarning` naming the
variable, the value, what was expected and what is used instead.
"""

import difflib
import os
import warnings
from collections.abc import Callable, Mapping


class NativaxEnvWarning(UserWarning):
    """A `NATIVAX_*` environment variable has an unusable value (its default is used) or an unknown name."""


def _int_at_least(lo: int) -> Callable[[str], str | None]:
    def check(v: str) -> str | None:
        try:
            x = int(v.strip(), 10)
        except ValueError:
            return f"expected a whole number >= {lo}"
        return None if x >= lo else f"expected a whole number >= {lo}"

    return check


def _flag(v: str) -> str | None:
    return None if v in ("", "0", "1") else "expected 0 or 1"


def _file(v: str) -> str | None:
    return None if not v or os.path.isfile(v) else "no such file"


# name -> (check, what is used instead of a bad value)
_RUNTIME: dict[str, tuple[Callable[[str], str | None], str]] = {
    "NATIVAX_CACHE_SIZE": (_int_at_least(0), "the default, 8 entries"),
    "NATIVAX_CACHE_BYTES": (_int_at_least(0), "the default, 1 GiB (1073741824)"),
    "NATIVAX_NUM_THREADS": (_int_at_least(1), "one thread per core"),
    "NATIVAX_AMGX_CACHE_SIZE": (_int_at_least(0), "the default, 4 entries"),
    "NATIVAX_IGNORE_MANUAL_FREE": (_flag, "0 (manual frees free)"),
    "NATIVAX_AMGX_LIBRARY": (_file, "the build-time and system search paths"),
}
# Read by the build (CMake), the test suite or the examples, not by the library at run time.
_OTHER = {
    "NATIVAX_AMGX_BUILD_LIBRARY", "NATIVAX_AMGX_COMPILE_ONLY", "NATIVAX_BUILD_BENCH", "NATIVAX_CUBLAS_INCLUDE_DIR",
    "NATIVAX_CUBLAS_ROOT", "NATIVAX_CUSOLVERMG_INCLUDE_DIR", "NATIVAX_CUSOLVERMG_LIBRARY", "NATIVAX_CUSOLVERMG_ROOT",
    "NATIVAX_SANITIZE", "NATIVAX_FUZZ_EXAMPLES", "NATIVAX_FUZZ_RANDOM", "NATIVAX_EXAMPLE_SMALL",
    "NATIVAX_EXAMPLES_SMALL", "NATIVAX_DIST_RESULTS", "NATIVAX_STRICT",
}


def check_environment(env: Mapping[str, str] | None = None, max_threads: int | None = None) -> list[str]:
    """Warn (`NativaxEnvWarning`) about each unusable or unknown `NATIVAX_*` variable; returns the messages.

    `max_threads`: the most native threads the pool will start (`NATIVAX_NUM_THREADS` is clamped to it)."""
    env = os.environ if env is None else env
    messages = []
    for name in sorted(k for k in env if k.startswith("NATIVAX_")):
        value = env[name]
        if name in _RUNTIME:
            check, fallback = _RUNTIME[name]
            why = check(value)
            if why is not None:
                messages.append(f"{name}={value!r} is not usable ({why}); using {fallback}")
            elif name == "NATIVAX_NUM_THREADS" and max_threads is not None and int(value) > max_threads:
                messages.append(
                    f"{name}={value} is more than this machine can use; clamped to {max_threads} threads (and "
                    "fewer if the process may not start that many)"
                )
        elif name not in _OTHER:
            close = difflib.get_close_matches(name, [*_RUNTIME, *_OTHER], n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            messages.append(f"{name} is not a nativax setting and is ignored{hint}")
    for m in messages:
        warnings.warn("nativax: " + m, NativaxEnvWarning, stacklevel=3)
    return messages
