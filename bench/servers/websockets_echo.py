"""websockets echo on its asyncio server (``websockets.asyncio.server.serve``)."""

from __future__ import annotations

import asyncio

from _common import MAX_MESSAGE, parse_args, raise_nofile, use_loop
from websockets.asyncio.server import ServerConnection, serve


async def echo(ws: ServerConnection) -> None:
    async for message in ws:
        await ws.send(message)


async def main(host: str, port: int) -> None:
    async with serve(
        echo,
        host,
        port,
        subprotocols=["echo"],  # type: ignore[list-item]
        max_size=MAX_MESSAGE,
        compression=None,
        ping_interval=None,
    ) as server:
        await server.serve_forever()


if __name__ == "__main__":
    args = parse_args(__doc__ or "")
    raise_nofile()
    use_loop(args.uvloop)
    asyncio.run(main(args.host, args.port))
