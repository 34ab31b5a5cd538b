"""The ``perfectws`` command: run a ported Perfect service from the shell.

Swift: none. A Perfect service is a ``main.swift`` that builds its server and
calls ``start()``; Python users expect uvicorn's ``uvicorn module:app
--port 8000``, so this is that, for a perfectws ``Routes`` or server.

argparse rather than click: it is the standard library (the command costs no
dependency), its ``--help`` lists each flag with its environment variable and
default, and the environment fallbacks here are three lines of code.
"""

from __future__ import annotations

import argparse
import atexit
import errno
import importlib
import logging
import os
import shutil
import ssl
import sys
import tempfile
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from ._logs import LogSetupError, configure
from ._proxy import TrustedProxies
from .exceptions import ConfigurationError, PerfectWSError
from .fanout import REDIS_URL_VARIABLE
from .routing import Routes, Routing
from .server import HTTPServer

__all__ = ["main"]

logger = logging.getLogger("perfectws.cli")

_TARGET_HELP = """\
MODULE:ATTRIBUTE to serve, imported with the current directory on sys.path.
ATTRIBUTE is a perfectws.Routes, an HTTPServer, a configuration-data dict
(Perfect's HTTPServer.launch(configurationData:)), or a callable with no
arguments that returns one of those, or sets up Routing.Routes and returns None.
"""

_EPILOG = """\
examples:
  perfectws chat:routes --port 8181
  perfectws chat:make_server --processes 4 --metrics --log-format json
  PERFECTWS_PORT=9000 perfectws chat:routes --proxy-headers \\
      --forwarded-allow-ips 10.0.0.0/8

Every flag can also come from the environment variable shown beside it.
With --health-checks the server answers /healthz and /readyz; with --metrics
it answers /metrics (Prometheus). README.md "Running it" has more.
"""


class _EnvHelp(argparse.RawDescriptionHelpFormatter):
    """Keeps the epilog's line breaks."""


def _env(name: str, default: Any = None) -> Any:
    return os.environ.get("PERFECTWS_" + name, default)


def _env_flag(name: str) -> bool:
    return str(_env(name, "")).strip().lower() in ("1", "true", "yes", "on")


def build_parser() -> argparse.ArgumentParser:
    """The command's arguments, each defaulting to its ``PERFECTWS_*`` variable."""
    p = argparse.ArgumentParser(
        prog="perfectws",
        description="Serve a perfectws (Perfect-style) application.",
        epilog=_EPILOG,
        formatter_class=_EnvHelp,
    )
    p.add_argument(
        "target", nargs="?", default=_env("APP"), help=_TARGET_HELP + "[PERFECTWS_APP]"
    )
    # In --help order: where to listen, the WebSocket limits, logging, proxies
    # and probes.
    _add_listen_options(p)
    _add_websocket_options(p)
    _add_logging_options(p)
    _add_proxy_and_probe_options(p)
    return p


def _opt(
    p: argparse.ArgumentParser, flag: str, env: str, helptext: str, **kw: Any
) -> None:
    p.add_argument(
        flag,
        default=_env(env, kw.pop("default", None)),
        help=f"{helptext} [PERFECTWS_{env}]",
        **kw,
    )


def _switch(p: argparse.ArgumentParser, flag: str, env: str, helptext: str) -> None:
    p.add_argument(
        flag,
        action="store_true",
        default=_env_flag(env),
        help=f"{helptext} [PERFECTWS_{env}]",
    )


def _add_listen_options(p: argparse.ArgumentParser) -> None:
    _opt(
        p,
        "--host",
        "HOST",
        "address to listen on; 0.0.0.0 is every interface "
        "(default: 127.0.0.1, or the HTTPServer's own)",
    )
    _opt(
        p,
        "--port",
        "PORT",
        "TCP port; 0 picks a free one (default: 8181, or the HTTPServer's own)",
        type=int,
    )
    _opt(
        p,
        "--processes",
        "PROCESSES",
        "worker processes sharing the port (default: 1)",
        type=int,
    )
    _opt(
        p, "--document-root", "DOCUMENT_ROOT", "HTTPServer.document_root (static files)"
    )
    _opt(p, "--ssl-certfile", "SSL_CERTFILE", "TLS certificate chain (PEM)")
    _opt(
        p,
        "--ssl-keyfile",
        "SSL_KEYFILE",
        "TLS private key (PEM), if not in the certfile",
    )


def _add_websocket_options(p: argparse.ArgumentParser) -> None:
    _opt(
        p,
        "--ping-interval",
        "PING_INTERVAL",
        "seconds of silence before a keepalive ping (default 20; 'off': none)",
        type=_seconds_or_off,
    )
    _opt(
        p,
        "--ping-timeout",
        "PING_TIMEOUT",
        "seconds a ping may go unanswered before 1011 (default 20)",
        type=float,
    )
    _opt(
        p,
        "--max-message-size",
        "MAX_MESSAGE_SIZE",
        "bytes a WebSocket message may grow to before 1009 (default 16 MiB)",
        type=int,
    )
    _opt(
        p,
        "--redis",
        "REDIS",
        "redis:// URL for the app's FanOut() made without one: fan-out between "
        "processes and hosts",
    )


def _seconds_or_off(value: str) -> float | str:
    return "off" if value.strip().lower() == "off" else float(value)


def _add_logging_options(p: argparse.ArgumentParser) -> None:
    _opt(
        p,
        "--log-level",
        "LOG_LEVEL",
        "debug, info, warning or error (default: info)",
        default="info",
        type=str.lower,
        choices=["debug", "info", "warning", "error"],
    )
    _opt(
        p,
        "--log-format",
        "LOG_FORMAT",
        "text, or json: one object per line (default: text)",
        default="text",
        type=str.lower,
        choices=["text", "json"],
    )
    _switch(
        p, "--no-access-log", "NO_ACCESS_LOG", "no line per request (perfectws.access)"
    )


def _add_proxy_and_probe_options(p: argparse.ArgumentParser) -> None:
    _switch(
        p,
        "--proxy-headers",
        "PROXY_HEADERS",
        "trust X-Forwarded-For/-Proto and Forwarded",
    )
    _opt(
        p,
        "--forwarded-allow-ips",
        "FORWARDED_ALLOW_IPS",
        "proxies whose forwarding headers are trusted: addresses, networks or * "
        "(default: 127.0.0.1)",
        default="127.0.0.1",
    )
    _switch(p, "--health-checks", "HEALTH_CHECKS", "answer GET /healthz and /readyz")
    _switch(p, "--metrics", "METRICS", "answer GET /metrics (needs perfectws[metrics])")
    _switch(
        p,
        "--no-uvloop",
        "NO_UVLOOP",
        "use asyncio's own event loop even if uvloop is installed",
    )


class CLIError(ConfigurationError):
    """A one-line reason to stop (printed without a traceback)."""


def main(argv: Sequence[str] | None = None) -> None:
    """Parse ``argv``, build the server, serve until SIGINT/SIGTERM.

    Swift: none (``main.swift``'s ``try server.start()`` as a command).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if not args.target:
            raise CLIError("say what to serve: perfectws MODULE:ATTRIBUTE (see --help)")
        configure(args.log_level, args.log_format, not args.no_access_log)
        run(args)
    except (CLIError, LogSetupError, PerfectWSError) as error:
        # PerfectWSError: a caller's mistake perfectws names (a bad route,
        # configuration data, a proxy list): the message is the whole story.
        _fail(str(error))


def _fail(message: str) -> NoReturn:
    print(f"perfectws: error: {message}", file=sys.stderr)
    raise SystemExit(1)


def run(args: argparse.Namespace) -> None:
    """Serve ``args.target`` with the settings in ``args``."""
    if args.processes is not None and args.processes < 1:
        raise CLIError("--processes must be 1 or more")
    if args.port is not None and not 0 <= args.port <= 65535:
        raise CLIError(f"--port {args.port} is not a TCP port")
    TrustedProxies(args.forwarded_allow_ips)  # a typo fails here, not per request
    if args.ssl_certfile or args.ssl_keyfile:
        _check_certificate(args.ssl_certfile, args.ssl_keyfile)
    if args.metrics:
        _prepare_metrics(args.processes or 1)
    if args.redis:
        # Before the app is imported: its FanOut() (no URL) reads it there, in
        # every worker too (perfectws/fanout.py).
        os.environ[REDIS_URL_VARIABLE] = args.redis
    target = load_target(args.target)
    if isinstance(target, dict):
        _launch(target, args)
        return
    server = _make_server(target, args)
    _apply(server, args)
    try:
        server.start()
    except OSError as error:
        if error.errno in (errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL):
            raise CLIError(
                f"cannot listen on {server.server_address}:{server.server_port}: "
                f"{os.strerror(error.errno)}"
            ) from None
        raise


def load_target(spec: str) -> object:
    """Import ``module:attribute``; a callable is called and its result used."""
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise CLIError(f"{spec!r} is not MODULE:ATTRIBUTE (for example app:routes)")
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        missing = error.name or ""
        if module_name == missing or module_name.startswith(missing + "."):
            raise CLIError(f"cannot import {module_name!r}: no such module") from None
        raise  # the module exists and one of its own imports failed: show where
    value: object = module
    for part in attribute.split("."):
        try:
            value = getattr(value, part)
        except AttributeError:
            raise CLIError(
                f"module {module_name!r} has no attribute {attribute!r}"
            ) from None
    if callable(value) and not isinstance(value, Routes | HTTPServer | type):
        value = value()
        if value is None:  # it filled Routing.Routes, as Perfect 1.x code does
            value = Routing.Routes
    if not isinstance(value, Routes | HTTPServer | dict):
        raise CLIError(
            f"{spec} is a {type(value).__name__}: expected Routes, an HTTPServer, a "
            "configuration dict, or a callable returning one"
        )
    return value


def _make_server(target: object, args: argparse.Namespace) -> HTTPServer:
    if isinstance(target, HTTPServer):
        return target
    assert isinstance(target, Routes)
    server = HTTPServer(server_address="127.0.0.1")
    if target is not Routing.Routes:
        server.add_routes(target)
    return server


# Flags that are HTTPServer settings of the same name.
_SETTINGS = ("ping_interval", "ping_timeout", "max_message_size")
#: Perfect's ``HTTPServer.ssl: (sslCert: String, sslKey: String)?``.
_SSL_SETTING = "ssl"


def _apply(server: HTTPServer, args: argparse.Namespace) -> None:
    """Put the command's settings on ``server``; refuse what it cannot do."""
    if args.host is not None:
        server.server_address = args.host
    if args.port is not None:
        server.server_port = args.port
    if args.processes is not None:
        server.processes = args.processes
    if args.document_root is not None:
        server.document_root = args.document_root
    if args.no_uvloop:
        server.use_uvloop = False
    for setting in _SETTINGS:
        value = getattr(args, setting)
        if value is not None:
            setattr(server, setting, None if value == "off" else value)
    if args.ssl_certfile:
        if not hasattr(server, _SSL_SETTING):
            raise CLIError(
                "--ssl-certfile is not available in this perfectws "
                "(HTTPServer has no 'ssl' setting yet)"
            )
        pair = (args.ssl_certfile, args.ssl_keyfile or args.ssl_certfile)
        setattr(server, _SSL_SETTING, pair)
    ops = server._operations
    if args.proxy_headers:
        ops.trusted = TrustedProxies(args.forwarded_allow_ips)
    if args.health_checks:
        ops.health_checks = True
    if args.metrics:
        from .metrics import ServerMetrics

        ops.metrics = ServerMetrics()
        atexit.register(ops.metrics.mark_process_dead)


def _check_certificate(certfile: str | None, keyfile: str | None) -> None:
    if not certfile:
        raise CLIError("--ssl-keyfile needs --ssl-certfile")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(certfile, keyfile)
    except ssl.SSLError as error:
        reason = error.reason or str(error)
    except OSError as error:
        reason = error.strerror or str(error)
    else:
        return
    raise CLIError(
        f"cannot use certificate {certfile} (key {keyfile or certfile}): {reason}"
    )


def _prepare_metrics(processes: int) -> None:
    """Check prometheus-client is there; give N workers one directory to share."""
    if processes > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # prometheus-client picks its storage when first imported: set it now.
        path = tempfile.mkdtemp(prefix="perfectws-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
        owner = os.getpid()
        atexit.register(_remove_if_owner, path, owner)
    try:
        import prometheus_client  # noqa: F401
    except ImportError:
        raise CLIError(
            "--metrics needs prometheus-client: pip install 'perfectws[metrics]'"
        ) from None


def _remove_if_owner(path: str, owner: int) -> None:
    # Workers inherit this atexit entry; only the parent that made it cleans up.
    if os.getpid() == owner:
        shutil.rmtree(path, ignore_errors=True)


def _launch(configuration: dict[str, Any], args: argparse.Namespace) -> None:
    launch: Callable[..., Any] | None = getattr(HTTPServer, "launch", None)
    if launch is None:
        raise CLIError(
            "configuration data needs HTTPServer.launch(configuration_data=...), "
            "which this perfectws does not have yet: serve Routes or an HTTPServer"
        )
    launch(configuration_data=configuration)
