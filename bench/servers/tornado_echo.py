"""Bare Tornado echo: ``WebSocketHandler.on_message`` -> ``write_message``."""

from __future__ import annotations

import asyncio
import ssl

import tornado.web
import tornado.websocket
from _common import (
    MAX_MESSAGE,
    parse_args,
    raise_nofile,
    server_ssl_context,
    use_loop,
)


class EchoHandler(tornado.websocket.WebSocketHandler):
    def select_subprotocol(self, subprotocols: list[str]) -> str | None:
        return "echo" if "echo" in subprotocols else None

    def check_origin(self, origin: str) -> bool:
        return True

    def on_message(self, message: str | bytes) -> None:
        try:
            self.write_message(message, binary=isinstance(message, bytes))
        except tornado.websocket.WebSocketClosedError:
            pass


async def main(host: str, port: int, ssl_context: ssl.SSLContext | None) -> None:
    app = tornado.web.Application(
        [(r"/echo(?:-bin)?", EchoHandler)], websocket_max_message_size=MAX_MESSAGE
    )
    app.listen(port, address=host, ssl_options=ssl_context)
    await asyncio.Event().wait()


if __name__ == "__main__":
    args = parse_args(__doc__ or "")
    raise_nofile()
    use_loop(args.uvloop)
    asyncio.run(main(args.host, args.port, server_ssl_context(args)))
