"""aiohttp echo: ``WebSocketResponse`` with ``send_str`` / ``send_bytes``.

``/broadcast`` awaits ``send_str`` for each socket in turn (aiohttp has no
broadcast helper; this is the loop its examples show). ``--deflate`` lets the
response accept permessage-deflate (``compress=True``); without it the echo
refuses the extension (``compress=False``), as the other servers do.
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
from aiohttp import WSMsgType, web

DEFLATE = False
ROOM: set[web.WebSocketResponse] = set()


async def room(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(protocols=("echo",), compress=False)
    await ws.prepare(request)
    ROOM.add(ws)
    try:
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                for peer in list(ROOM):
                    if not peer.closed:
                        await peer.send_str(msg.data)
    finally:
        ROOM.discard(ws)
    return ws


async def echo(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(
        protocols=("echo",), max_msg_size=MAX_MESSAGE, compress=DEFLATE
    )
    await ws.prepare(request)
    async for msg in ws:
        if msg.type == WSMsgType.TEXT:
            await ws.send_str(msg.data)
        elif msg.type == WSMsgType.BINARY:
            await ws.send_bytes(msg.data)
    return ws


async def main(host: str, port: int, ssl_context: ssl.SSLContext | None) -> None:
    app = web.Application()
    app.router.add_get("/echo", echo)
    app.router.add_get("/echo-bin", echo)
    app.router.add_get("/broadcast", room)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port, ssl_context=ssl_context).start()
    await asyncio.Event().wait()


if __name__ == "__main__":
    args = parse_args(__doc__ or "")
    DEFLATE = args.deflate
    raise_nofile()
    use_loop(args.uvloop)
    asyncio.run(main(args.host, args.port, server_ssl_context(args)))
