"""The package's public API: perfectws.__all__ is exactly its modules' __all__."""

from __future__ import annotations

import importlib

import perfectws

MODULES = [
    "broadcast",
    "compression",
    "config",
    "exceptions",
    "fanout",
    "filters",
    "frames",
    "handler",
    "http_handler",
    "launch",
    "method",
    "request",
    "response",
    "routing",
    "server",
    "static",
    "tls",
    "websocket",
]


def combined_exports() -> list[str]:
    names: list[str] = []
    for module in MODULES:
        names += importlib.import_module(f"perfectws.{module}").__all__
    return names


def test_top_level_reexports_every_module_export() -> None:
    """Every name a module exports is importable from perfectws, and nothing else."""
    assert set(combined_exports()) == set(perfectws.__all__)
    for name in perfectws.__all__:
        assert getattr(perfectws, name) is not None


def test_module_exports_are_unique() -> None:
    """No two modules export the same name."""
    names = combined_exports()
    assert len(set(names)) == len(names)


def test_every_public_name_names_its_swift_counterpart() -> None:
    """Each public class and function documents the Perfect API it ports (`Swift:`)."""
    missing = []
    for name in perfectws.__all__:
        obj = getattr(perfectws, name)
        if isinstance(obj, type) and obj.__module__.startswith("perfectws"):
            doc = obj.__doc__ or ""
            if "Swift" not in doc and not issubclass(obj, Exception):
                missing.append(name)
    assert missing == []
