"""Shared bits of the benchmark echo servers: options, file limits, the loop.

Every server listens on 127.0.0.1, serves ``/echo`` and ``/echo-bin`` (the same
echo; perfectws needs a bytes route for binary messages), offers the ``echo``
subprotocol, accepts messages of at least 64 MiB, and prints nothing per message.
"""

from __future__ import annotations

import argparse
import asyncio
import resource

MAX_MESSAGE = 64 * 1024 * 1024


def parse_args(
    description: str, *, processes: bool = False, metrics: bool = False
) -> argparse.Namespace:
    """Parse ``--port`` and ``--uvloop`` (``--processes``, ``--metrics`` where supported)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop")
    if processes:
        parser.add_argument("--processes", type=int, default=1)
    if metrics:
        parser.add_argument("--metrics", action="store_true", help="count metrics")
    return parser.parse_args()


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
