"""Every error perfectws raises is a PerfectWSError and the builtin a caller catches.

Reads each ``raise`` statement in perfectws/ with :mod:`ast`, resolves what it
raises (a class, or a function whose return annotation is the exception it
builds) in the module's own namespace, and checks the class against
perfectws/exceptions.py's rule: caller mistakes derive from
:class:`~perfectws.PerfectWSError` and from a builtin such as ``ValueError``,
``TypeError``, ``RuntimeError`` or ``OSError``. Peer trouble never raises into
user code (it becomes a close code and a ``None`` read), so the only other
exceptions allowed are the internal ones listed in ``INTERNAL`` below.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import inspect
import re
import typing
from pathlib import Path
from typing import Any, NamedTuple

import pytest

import perfectws
from perfectws import exceptions
from perfectws.exceptions import PerfectWSError
from perfectws.frames import ProtocolError

PACKAGE = Path(perfectws.__file__).parent

#: Raised inside perfectws and caught there, never reaching a caller.
INTERNAL: dict[type[BaseException], str] = {
    # The codec's verdict on a peer's bytes: perfectws/protocol.py catches it
    # and turns it into a Failure event (a 1002/1007/1009 Close and a None
    # read); tests/test_protocol.py and the fuzz tests in test_frames.py prove
    # no bytes make it escape.
    ProtocolError: "perfectws/protocol.py turns it into a Failure event",
    # The perfectws command's exit status (perfectws/cli.py): it ends the
    # process, it is never raised into a caller's code.
    SystemExit: "the perfectws command exits with status 1 and a one-line reason",
}

#: Builtins a Python caller would catch for a mistake (not Exception itself).
CATCHABLE = (ValueError, TypeError, RuntimeError, OSError, LookupError, ImportError)
#: The test kit is a pytest plugin: it fails a user's test the way pytest
#: expects, with an AssertionError.
TEST_KIT = "perfectws/testing.py"


class RaiseSite(NamedTuple):
    where: str  # path:line
    raised: type[BaseException]


def resolve(node: ast.expr, namespace: dict[str, Any]) -> object:
    """The object ``node`` (a Name or a dotted Attribute) names in ``namespace``."""
    if isinstance(node, ast.Name):
        if node.id in namespace:
            return namespace[node.id]
        return getattr(builtins, node.id)
    if isinstance(node, ast.Attribute):
        return getattr(resolve(node.value, namespace), node.attr)
    raise AssertionError(f"cannot resolve {ast.unparse(node)}")


def raised_type(exc: ast.expr, namespace: dict[str, Any]) -> type[BaseException]:
    """The exception class a ``raise <exc>`` raises.

    ``raise Cls(...)``, ``raise Cls``, ``raise make_error(...)`` (a factory
    whose return annotation names the class).
    """
    target = exc.func if isinstance(exc, ast.Call) else exc
    obj = resolve(target, namespace)
    if inspect.isclass(obj) and issubclass(obj, BaseException):
        return obj
    if callable(obj):
        returned = typing.get_type_hints(obj).get("return")
        if inspect.isclass(returned) and issubclass(returned, BaseException):
            return returned
    raise AssertionError(f"cannot tell what `raise {ast.unparse(exc)}` raises")


def raise_sites() -> list[RaiseSite]:
    """Every ``raise`` with an exception in perfectws/*.py (bare re-raises excluded)."""
    sites = []
    for path in sorted(PACKAGE.glob("*.py")):
        module = importlib.import_module(f"perfectws.{path.stem}")
        if path.stem == "__init__":
            module = perfectws
        namespace = vars(module)
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            # A bare `raise` re-raises what was caught (cleanup, then the
            # caller's own exception goes on): it adds no type of ours.
            if isinstance(node, ast.Raise) and node.exc is not None:
                where = f"perfectws/{path.name}:{node.lineno}"
                sites.append(RaiseSite(where, raised_type(node.exc, namespace)))
    return sites


SITES = raise_sites()


def test_the_raise_sites_are_found() -> None:
    """The scan sees the package's raises (it would pass vacuously otherwise)."""
    raised = {site.raised for site in SITES}
    assert len(SITES) > 100
    assert {
        exceptions.RouteError,
        exceptions.ConfigurationError,
        exceptions.ConcurrencyError,
        exceptions.CloseFrameError,
        exceptions.NotServedError,
        exceptions.LaunchFailure,
        exceptions.ArgumentError,
        ProtocolError,
    } <= raised
    # `raise invalid_utf8(...)` resolves through the factory's annotation.
    assert any(
        site.where.startswith("perfectws/frames.py") and site.raised is ProtocolError
        for site in SITES
    )


@pytest.mark.parametrize("site", SITES, ids=[site.where for site in SITES])
def test_every_raise_is_a_perfectws_error_a_caller_can_catch(site: RaiseSite) -> None:
    """Each raised type derives from PerfectWSError and a catchable builtin, or is internal."""
    if site.raised in INTERNAL:
        return
    assert issubclass(site.raised, PerfectWSError), (
        f"{site.where} raises {site.raised.__name__}, not a PerfectWSError: "
        "use or add a subclass in perfectws/exceptions.py"
    )
    catchable = CATCHABLE
    if site.where.startswith(TEST_KIT):
        catchable = (*CATCHABLE, AssertionError)
    assert issubclass(site.raised, catchable), (
        f"{site.where} raises {site.raised.__name__}, which derives from no builtin "
        "a caller would catch"
    )


def test_internal_errors_are_not_public() -> None:
    """What never leaves the package is neither exported nor a PerfectWSError."""
    for error in INTERNAL:
        assert error.__name__ not in perfectws.__all__
        assert not issubclass(error, PerfectWSError)


def test_the_tree_in_the_docstring_matches_the_classes() -> None:
    """exceptions.py's drawing names every exported error once, with its builtin."""
    doc = exceptions.__doc__ or ""
    drawn = dict(re.findall(r"[├└]── (\w+)\s+\(also an? (\w+)\)", doc))
    errors = {
        name: getattr(exceptions, name)
        for name in exceptions.__all__
        if name != "PerfectWSError"
    }
    assert set(drawn) == set(errors)
    for name, error in errors.items():
        assert error.__bases__ == (PerfectWSError, getattr(builtins, drawn[name]))
    assert "    PerfectWSError\n" in doc
