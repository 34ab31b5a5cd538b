"""Log output for the ``perfectws`` command: text for people, JSON for shippers.

Swift: none. Perfect prints with ``print``/``LogFile``; perfectws keeps the
stdlib ``logging`` tree (``perfectws``, ``perfectws.access``, ``tornado``)
and this only chooses where it goes and how it looks.

JSON lines come from python-json-logger (``pip install 'perfectws[jsonlog]'``):
it is maintained, typed, small, and keeps every ``extra=`` field of a record,
which is how the access log passes ``remote``, ``status``, ``duration_ms``
and the rest as keys rather than as text to be parsed back.
"""

from __future__ import annotations

import logging
import sys

from .exceptions import ConfigurationError

__all__: list[str] = []

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class LogSetupError(ConfigurationError):
    """A log setting cannot be honoured (package-internal; the CLI prints it)."""


def configure(level: str, log_format: str, access_log: bool = True) -> None:
    """Send every record at ``level`` or above to stderr, as text or JSON lines."""
    if level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise LogSetupError(
            f"unknown log level {level!r}: use debug, info, warning or error"
        )
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        try:
            from pythonjsonlogger.json import JsonFormatter
        except ImportError:
            raise LogSetupError(
                "--log-format json needs python-json-logger: "
                "pip install 'perfectws[jsonlog]'"
            ) from None
        handler.setFormatter(
            JsonFormatter(
                "%(levelname)s %(name)s %(message)s",
                rename_fields={"levelname": "level", "name": "logger"},
                timestamp=True,
            )
        )
    elif log_format == "text":
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    else:
        raise LogSetupError(f"unknown log format {log_format!r}: use text or json")
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    if not access_log:
        logging.getLogger("perfectws.access").setLevel(logging.WARNING)
