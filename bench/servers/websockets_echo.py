"""websockets echo on its asyncio server (``websockets.asyncio.server.serve``).

``/broadcast`` uses ``websockets.broadcast`` (frames once, writes to each);
``--deflate`` serves with ``compression="deflate"`` (its defaults).
"""

from __future__ import annotations

import asyncio
import ssl

from _common import (
    MAX_MESSAGE,
    parse_args,
    raise_nofile,
    server_ssl_context,
    use_loop,
)
from websockets.asyncio.server import ServerConnection, broadcast, serve

ROOM: set[ServerConnection] = set()


async def echo(ws: ServerConnection) -> None:
    if ws.request is not None and ws.request.path == "/broadcast":
        ROOM.add(ws)
        try:
            async for message in ws:
                broadcast(ROOM, message)
        finally:
            ROOM.discard(ws)
        return
    async for message in ws:
        await ws.send(message)


async def main(
    host: str, port: int, ssl_context: ssl.SSLContext | None, deflate: bool
) -> None:
    async with serve(
        echo,
        host,
        port,
        subprotocols=["echo"],  # type: ignore[list-item]
        max_size=MAX_MESSAGE,
        compression="deflate" if deflate else None,
        ping_interval=None,
        ssl=ssl_context,
    ) as server:
        await server.serve_forever()


if __name__ == "__main__":
    args = parse_args(__doc__ or "")
    raise_nofile()
    use_loop(args.uvloop)
    asyncio.run(main(args.host, args.port, server_ssl_context(args), args.deflate))
