"""Version-tolerant reading of primitive parameters.

JAX changes how some primitives store their parameters between releases (0.10:
`scan` has `num_consts`/`num_carry` and `ClosedJaxpr` bodies; 0.12: `ft_in`/`ft_out`
flat trees and open `Jaxpr` bodies). The interpreter reads them only through these
helpers, which use public attributes and fail with a clear message (the equation
then falls back to a conservative rule) instead of a `KeyError`.
"""

from collections.abc import Iterator
from typing import Any

import jax.extend.core as jex


class UnsupportedParams(Exception):
    """The parameters of an equation have a layout these helpers do not know."""


def open_jaxpr(jaxpr) -> jex.Jaxpr:
    """The `Jaxpr` of a `ClosedJaxpr`, or the argument itself."""
    return jaxpr.jaxpr if isinstance(jaxpr, jex.ClosedJaxpr) else jaxpr


def num_eqns(jaxpr) -> int:
    return len(open_jaxpr(jaxpr).eqns)


def sub_jaxprs(value: Any) -> Iterator[Any]:
    """Every `ClosedJaxpr`/`Jaxpr` held by a parameter value (also inside tuples and
    named tuples such as `custom_linear_solve`'s `jaxprs`)."""
    if isinstance(value, (jex.ClosedJaxpr, jex.Jaxpr)):
        yield value
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from sub_jaxprs(item)


def field(record: Any, name: str, index: int) -> Any:
    """`record.name` of a named tuple, or `record[index]` for a plain tuple."""
    if hasattr(record, name):
        return getattr(record, name)
    try:
        return record[index]
    except (TypeError, IndexError, KeyError) as err:
        raise UnsupportedParams(f"no field {name!r} in {type(record).__name__}") from err


def _leaf_count(tree: Any) -> int:
    try:
        return len(tree)
    except TypeError as err:
        raise UnsupportedParams(f"cannot count the leaves of {type(tree).__name__}") from err


def _parts(tree: Any) -> tuple:
    """The top-level parts of a flat tree (`FTTuple.unpack()`), or a plain tuple."""
    if hasattr(tree, "unpack"):
        return tuple(tree.unpack())
    if hasattr(tree, "elts"):
        return tuple(tree.elts)
    if isinstance(tree, tuple):
        return tree
    raise UnsupportedParams(f"cannot split {type(tree).__name__} into parts")


def scan_layout(eqn) -> tuple[int, int]:
    """`(num_consts, num_carry)` of a `scan` equation, on every JAX line."""
    p = eqn.params
    if "num_consts" in p and "num_carry" in p:
        nconsts, ncarry = int(p["num_consts"]), int(p["num_carry"])
    elif "ft_in" in p:
        parts = _parts(p["ft_in"])
        if len(parts) != 3:
            raise UnsupportedParams(f"scan ft_in has {len(parts)} parts, expected 3")
        nconsts, ncarry = _leaf_count(parts[0]), _leaf_count(parts[1])
    else:
        raise UnsupportedParams(f"scan parameters {sorted(p)} hold no consts/carry layout")
    body = open_jaxpr(p["jaxpr"])
    if (nconsts + ncarry > len(eqn.invars) or len(body.invars) != len(eqn.invars)
            or ncarry > len(eqn.outvars)):
        raise UnsupportedParams("scan layout does not match the equation's operands")
    return nconsts, ncarry
