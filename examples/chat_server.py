"""Perfect's chat demo (PerfectExamples/Perfect-Chat-Demo), ported line by line.

Run ``python examples/chat_server.py`` from the repository root and open
http://localhost:8181/ in two browser windows. The Swift sources are
``Sources/main.swift``, ``Handlers.swift``, ``ChatroomService.swift`` and
``ChatUser.swift``; each part below is in the same order and keeps its
comments. The protocol is the demo's: route ``/chat``, subprotocol ``chat``;
a client joins with ``{"email", "displayName", "avatar"}`` and posts the same
object with ``"message"``; every other joined user receives
``{"user", "message": "<displayName>: <text>", "avatar"}``; the user "Bot"
announces "<name> Joined" and "<name> Left"; users are keyed by email.

What the Swift does not have is marked ``perfectws:``. ``--processes N`` and
``--redis URL`` (``redis://127.0.0.1:6379/0``) let several processes, on this
machine or others, share one chat room through Redis pub/sub; without
``--redis`` the example runs alone and needs no Redis.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from typing import Any

from perfectws import (
    GET,
    FanOut,
    HTTPRequest,
    HTTPResponse,
    HTTPServer,
    OpcodeType,
    RequestHandler,
    Routes,
    StaticFileHandler,
    WebSocket,
    WebSocketHandler,
    WebSocketSessionHandler,
    broadcast,
)

# perfectws: the chat page, served for GET / (the demo's page adapted to run
# offline and to connect to whatever host served it).
WEBROOT = os.path.normpath(
    os.path.join(
        os.path.dirname(os.path.abspath(__file__)), os.pardir, "webroot", "chat"
    )
)

# perfectws: the Redis channel every process of the room publishes on.
CHANNEL = "perfect-chat-demo"


# ---------------------------------------------------------------- ChatUser.swift


class UserError(Exception):
    """Swift: ``enum UserError: Error { case failedToCreate }``"""


class ChatUser:
    """Swift: ``class ChatUser: Hashable``: a user is their email."""

    def __init__(self, json: dict[str, Any] | None = None) -> None:
        if json is None:
            # Plain == make a bot!
            self.email = "nil"
            self.display_name = "Bot"
            self.avatar_uri = "http://en.gravatar.com/avatar/0"
            return
        user_email = json.get("email")
        avatar_url = json.get("avatar")
        name = json.get("displayName")
        if not (
            isinstance(user_email, str)
            and isinstance(avatar_url, str)
            and isinstance(name, str)
        ):
            raise UserError("failedToCreate")
        self.email = user_email
        self.avatar_uri = avatar_url
        self.display_name = name

    def __hash__(self) -> int:
        return hash(self.email)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ChatUser) and self.email == other.email


# ------------------------------------------------------- ChatroomService.swift


class Chatroom:
    """Swift: ``class Chatroom``, a singleton: one room per process."""

    # This makes it a singleton, one shared instance across the whole program.
    instance: Chatroom

    def __init__(self) -> None:
        self._chats: dict[ChatUser, WebSocket] = {}
        self.bot = ChatUser()
        # perfectws: fan-out to the other processes, when --redis is given.
        self.fanout: FanOut | None = None

    def join(self, user: ChatUser, socket: WebSocket) -> None:
        self._chats[user] = socket
        self.send_message(f"{user.display_name} Joined", from_user=self.bot)

    def leave(self, user: ChatUser) -> None:
        self._chats.pop(user, None)
        self.send_message(f"{user.display_name} Left", from_user=self.bot)

    def send_message(self, message: str, from_user: ChatUser) -> None:
        user = from_user
        json_ = {
            "user": user.display_name,
            "message": f"{user.display_name}: {message}",
            "avatar": user.avatar_uri,
        }
        try:
            final = json.dumps(json_)
            # perfectws: one broadcast() for Swift's loop of sendStringMessage, so
            # a user whose browser stops reading is skipped, not buffered for.
            broadcast(
                [
                    socket
                    for username, socket in self._chats.items()
                    if username != user
                ],
                final,
            )
            print(f"message: {final} was sent by user: {user.display_name}")
            # perfectws: fan-out: the same message for the users of every other
            # process; queued, so local users above never wait for Redis.
            if self.fanout is not None:
                self.fanout.publish(CHANNEL, json.dumps([user.email, final]))
        except (TypeError, ValueError):
            print("Failed to send message")

    # perfectws: fan-out: a message sent on another process, for the users here.
    def received(self, data: bytes) -> None:
        email, final = json.loads(data)
        broadcast(
            [
                socket
                for username, socket in self._chats.items()
                if username.email != email
            ],
            final,
        )


Chatroom.instance = Chatroom()


# --------------------------------------------------------------- Handlers.swift


def chat_handler(data: dict[str, Any]) -> RequestHandler:
    def handler(request: HTTPRequest, response: HTTPResponse) -> None:
        # perfectws: which worker took the connection (with --processes N), and
        # the fan-out connects as soon as this worker has a chat client.
        logging.getLogger("chat").info(
            "chat connection from %s on worker %d", _peer(request), os.getpid()
        )
        if Chatroom.instance.fanout is not None:
            Chatroom.instance.fanout.start()

        # Provide your closure which will return the service handler.
        def handler_producer(
            request: HTTPRequest, protocols: list[str]
        ) -> WebSocketSessionHandler | None:
            # Check to make sure the client is requesting our "chat" service.
            if "chat" not in protocols:
                return None
            # Return our service handler.
            return ChatHandler()

        WebSocketHandler(handler_producer=handler_producer).handle_request(
            request, response
        )

    return handler


class ChatHandler:
    def __init__(self) -> None:
        self.user: ChatUser | None = None

    # The name of the super-protocol we implement.
    # This is optional, but it should match whatever the client-side WebSocket is
    # initialized with.
    socket_protocol: str | None = "chat"

    # This function is called by the WebSocketHandler once the connection has been
    # established.
    def handle_session(self, request: HTTPRequest, socket: WebSocket) -> None:
        # Read a message from the client as a string.
        # Alternatively we could call `read_bytes_message` to get the data as bytes.
        def on_message(string: str | None, op: OpcodeType, fin: bool) -> None:
            # This callback is provided:
            #   the received data
            #   the message's op-code
            #   a boolean indicating if the message is complete
            #   (as opposed to fragmented)

            # The data parameter might be None here if either a timeout
            # or a network error, such as the client disconnecting, occurred.
            # By default there is no timeout.
            if string is None:
                # This block will be executed if, for example, the browser
                # window is closed.
                if (chat_user := self.user) is not None:
                    print(f"socket closed for {chat_user.email}")
                    Chatroom.instance.leave(user=chat_user)
                socket.close()
                return

            # Print some information to the console to show the incoming messages.
            print(f"Read msg: {string} op: {op} fin: {fin}")

            try:
                # perfectws: Swift's `guard fin == true, let json = ... as?
                # [String: Any] else {return}` returns without reading again, so
                # a fragment or a JSON non-object left the session deaf and its
                # user in the room for good; here they fail like bad JSON does.
                json_ = json.loads(string) if fin else None
                if not isinstance(json_, dict):
                    raise UserError("not a JSON object")
                self.user = ChatUser(json=json_)

                if (chat_user := self.user) is not None:
                    if isinstance(message := json_.get("message"), str):
                        # If there's a message attached, we send it
                        Chatroom.instance.send_message(message, from_user=chat_user)
                    else:
                        # Otherwise, they must be joining, so add them!
                        Chatroom.instance.join(user=chat_user, socket=socket)
            except (ValueError, UserError):
                print("Failed to decode JSON from Received Socket Message")

            # Done working on this message? Loop back around and read the next
            # message.
            self.handle_session(request, socket)

        socket.read_string_message(on_message)


def _peer(request: HTTPRequest) -> str:
    address = request.remote_address
    return f"{address[0]}:{address[1]}" if address else "?"


# ------------------------------------------------------------------ main.swift


def static_files(document_root: str) -> RequestHandler:
    """Swift: ``PerfectHTTPServer.HTTPHandler.staticFiles`` with its documentRoot."""
    return StaticFileHandler(document_root=document_root).handle_request


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8181, help="default: 8181")
    parser.add_argument("--host", default="0.0.0.0", help="default: 0.0.0.0")
    parser.add_argument(
        "--processes", type=int, default=1, help="worker processes (default: 1)"
    )
    parser.add_argument(
        "--ping-interval",
        type=lambda v: None if v == "off" else float(v),
        default=20.0,
        help="seconds of silence before a keepalive ping; 'off' for none (default: 20)",
    )
    parser.add_argument(
        "--ping-timeout",
        type=float,
        default=20.0,
        help="seconds a ping may go unanswered before 1011 (default: 20)",
    )
    parser.add_argument(
        "--redis",
        metavar="URL",
        help="share the room through Redis, e.g. redis://127.0.0.1:6379/0",
    )
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.INFO, format="%(levelname)s %(process)d %(name)s: %(message)s"
    )

    port = args.port

    routes = Routes()
    routes.add(method=GET, uri="/**", handler=static_files(document_root=WEBROOT))
    routes.add(method=GET, uri="/chat", handler=chat_handler(data={}))

    # perfectws: fan-out: one FanOut per process (each worker connects its own
    # after the fork); posts from the other processes go to the users here.
    if args.redis:
        Chatroom.instance.fanout = FanOut(args.redis)
        Chatroom.instance.fanout.subscribe(CHANNEL, Chatroom.instance.received)

    server = HTTPServer(
        server_port=port,
        server_address=args.host,
        document_root=WEBROOT,
        processes=args.processes,
        ping_interval=args.ping_interval,
        ping_timeout=args.ping_timeout,
    )
    server.add_routes(routes)
    print(
        f"Chat on http://localhost:{port}/ ({args.processes} process(es), "
        f"{'Redis ' + args.redis if args.redis else 'no Redis'})",
        flush=True,
    )
    # Launch the server; it runs until SIGINT or SIGTERM.
    server.start()


if __name__ == "__main__":
    main()
