"""Shared bits of the benchmark echo servers: options, file limits, the loop.

Every server listens on 127.0.0.1, serves ``/echo`` and ``/echo-bin`` (the same
echo; perfectws needs a bytes route for binary messages), offers the ``echo``
subprotocol, accepts messages of at least 64 MiB, and prints nothing per message.
``/broadcast`` (the broadcast1k row) sends every message it receives to every
connection open on ``/broadcast``, the sender included, with the server's own
broadcast idiom. ``--deflate`` turns permessage-deflate on (the deflate4k row);
without it every server leaves compression off.
Those that take ``--cert`` / ``--key`` (perfectws, aiohttp, websockets, tornado) serve
wss with that certificate (bench/run.py makes a throwaway one with trustme).
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import ssl

MAX_MESSAGE = 64 * 1024 * 1024


def parse_args(
    description: str,
    *,
    processes: bool = False,
    metrics: bool = False,
    fanout: bool = False,
) -> argparse.Namespace:
    """Parse ``--port``, ``--uvloop``, ``--deflate`` (and the perfectws options)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop")
    if processes:
        parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--cert", help="TLS certificate file: serve wss")
    parser.add_argument("--key", help="TLS private key file")
    parser.add_argument(
        "--deflate", action="store_true", help="permessage-deflate (RFC 7692) on"
    )
    if metrics:
        parser.add_argument("--metrics", action="store_true", help="count metrics")
    if fanout:
        parser.add_argument("--redis", help="/broadcast through FanOut on this URL")
        parser.add_argument(
            "--port2", type=int, help="fork a second server process on this port"
        )
    args = parser.parse_args()
    if (args.cert is None) != (args.key is None):
        parser.error("--cert and --key go together")
    return args


def server_ssl_context(args: argparse.Namespace) -> ssl.SSLContext | None:
    """The server-side TLS context for ``--cert`` / ``--key``, or None (plain ws)."""
    if args.cert is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(args.cert, args.key)
    return context


def raise_nofile() -> None:
    """Raise the soft RLIMIT_NOFILE to the hard limit (thousands of sockets)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def use_loop(uvloop: bool) -> None:
    """Make asyncio.run() use uvloop when asked; the stock loop otherwise."""
    if uvloop:
        import uvloop as _uvloop

        asyncio.set_event_loop_policy(_uvloop.EventLoopPolicy())
