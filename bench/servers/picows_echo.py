"""picows echo: its Cython frame API, on the stock asyncio loop (or ``--uvloop``).

picows uses the aiofastnet transport when that package is installed (picows
2.3 depends on it); pass ``--no-aiofastnet`` for asyncio's own transport.
"""

from __future__ import annotations

import asyncio
import sys

from _common import MAX_MESSAGE, parse_args, raise_nofile, use_loop
from picows import (
    WSFrame,
    WSListener,
    WSMsgType,
    WSTransport,
    WSUpgradeRequest,
    WSUpgradeResponse,
    WSUpgradeResponseWithListener,
    ws_create_server,
)


class Echo(WSListener):
    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        msg_type = frame.msg_type
        if msg_type == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code())
            transport.disconnect()
        elif msg_type != WSMsgType.PING and msg_type != WSMsgType.PONG:
            transport.send(msg_type, frame.get_payload_as_memoryview(), frame.fin)


def factory(request: WSUpgradeRequest) -> Echo | WSUpgradeResponseWithListener:
    offered = request.headers.get("Sec-WebSocket-Protocol", "")
    if "echo" in (p.strip() for p in offered.split(",")):
        response = WSUpgradeResponse.create_101_response(
            extra_headers={"Sec-WebSocket-Protocol": "echo"}
        )
        return WSUpgradeResponseWithListener(response, Echo())
    return Echo()


async def main(host: str, port: int, aiofastnet: bool) -> None:
    server = await ws_create_server(
        factory,
        host,
        port,
        max_frame_size=MAX_MESSAGE,
        use_aiofastnet=None if aiofastnet else False,
    )
    await server.serve_forever()


if __name__ == "__main__":
    no_fastnet = "--no-aiofastnet" in sys.argv
    if no_fastnet:
        sys.argv.remove("--no-aiofastnet")
    args = parse_args(__doc__ or "")
    raise_nofile()
    use_loop(args.uvloop)
    asyncio.run(main(args.host, args.port, not no_fastnet))
