"""aiohttp echo: ``WebSocketResponse`` with ``send_str`` / ``send_bytes``."""

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


async def echo(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(protocols=("echo",), max_msg_size=MAX_MESSAGE)
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
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port, ssl_context=ssl_context).start()
    await asyncio.Event().wait()


if __name__ == "__main__":
    args = parse_args(__doc__ or "")
    raise_nofile()
    use_loop(args.uvloop)
    asyncio.run(main(args.host, args.port, server_ssl_context(args)))
