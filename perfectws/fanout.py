"""Publish and subscribe across processes and machines, on Redis pub/sub.

A Perfect service broadcasts by looping over the sockets of its own process
(Perfect-Chat-Demo, ``ChatroomService.swift``). Once it runs as several
processes (``HTTPServer(processes=N)``) or on several machines, each process
only knows its own sockets; :class:`FanOut` carries a message to the others
through Redis pub/sub, the engine Socket.IO's Redis adapter, Django Channels,
ActionCable and Phoenix PubSub use for the same job. The client is
``redis.asyncio`` (``pip install 'perfectws[redis]'``) on the running loop.

Delivery is **at most once**: Redis pub/sub keeps nothing. A message
published while Redis is down, or while a subscriber is reconnecting, is lost
for the processes that did not get it (Redis pub/sub documentation, "Delivery
semantics"). What a process delivers to its own sockets never goes through
Redis, so it does not wait for it and does not stop when Redis does.

Why about 470 lines (issue 10): one class, :class:`FanOut`, whose two Redis
connections (publishing, and the subscription with its reconnect and
back-off) share the channel, the batching and the lifecycle; about a quarter
of the lines are docstrings and comments, which state its delivery guarantees.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import uuid
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from ._trampoline import trampoline
from .exceptions import FanOutError, MessageTypeError, MissingDependency

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.client import PubSub

#: Where ``FanOut()`` without a URL finds one: set by ``perfectws --redis URL``.
REDIS_URL_VARIABLE = "PERFECTWS_REDIS"

__all__ = ["FanOut", "FanOutCallback"]

logger = logging.getLogger(__name__)

#: ``callback(message)``: one published message, as the bytes published.
FanOutCallback = Callable[[bytes], Any]

# Every message carries its publisher's id so that a FanOut can leave out what
# it published itself (its process has delivered that locally already).
# Messages without this prefix (from redis-cli, another library) are delivered
# whole, with no publisher.
_MAGIC: Final = b"\x00pws1"
_ID_SIZE: Final = 16
_HEADER_SIZE: Final = len(_MAGIC) + _ID_SIZE
# Publishes go out in pipelines of at most this many: one round trip for a
# burst, in the order they were made.
_BATCH: Final = 512
#: Seconds closing a connection to Redis may take before it is given up.
_CLOSE_TIMEOUT: Final = 1.0


class FanOut:
    """Named channels shared by every process that uses the same Redis URL.

    Swift: none. Perfect has no cross-process messaging; a Perfect service
    that broadcasts reaches only the sockets of its own process. perfectws adds
    this for services that run several processes or machines (issue 13).

    ::

        fanout = FanOut("redis://127.0.0.1:6379/0")
        fanout.subscribe("room", lambda data: broadcast(room_sockets, data, text=True))
        fanout.publish("room", json.dumps(post))

    Create one per process, before or after ``HTTPServer(processes=N)`` forks:
    it connects lazily, from the first call made on the running event loop
    (or :meth:`start`), so each worker opens its own connections. It holds
    **one** Redis connection for all its subscriptions, and one for
    publishing (a subscribed RESP2 connection cannot publish).

    * :meth:`publish` never blocks and never raises for Redis: it queues the
      message; a single writer sends the queue in order, pipelined. Messages
      of one publisher therefore arrive in the order published.
    * A subscriber's ``callback(message)`` runs on the loop for every message
      published on the channel by any *other* FanOut on the same Redis
      (``echo=True`` also delivers this FanOut's own). An exception in a
      callback is logged with its traceback and the others still run.
    * Delivery is **at most once** (Redis pub/sub stores nothing): when Redis
      goes away one WARNING says so, publishes are dropped (counted in
      :attr:`dropped`), and the FanOut reconnects by itself with exponential
      back-off (``reconnect_min`` to ``reconnect_max`` seconds, with jitter)
      and subscribes again to every channel; once Redis is back, messages
      flow again within about ``reconnect_max`` seconds and an INFO line says
      so. Nothing raises into the caller meanwhile.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        reconnect_min: float = 0.05,
        reconnect_max: float = 1.0,
        max_queue: int = 100_000,
        connect_timeout: float = 2.0,
    ) -> None:
        if url is None:
            # The perfectws command's --redis (README "Running it").
            url = os.environ.get(REDIS_URL_VARIABLE)
            if not url:
                raise FanOutError(
                    "FanOut() needs a Redis URL: FanOut('redis://host:6379/0'), "
                    f"or run with --redis URL (or {REDIS_URL_VARIABLE}=URL)"
                )
        try:
            from redis.asyncio.connection import parse_url
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise MissingDependency(
                "perfectws.FanOut needs the redis package: pip install 'perfectws[redis]'"
            ) from exc
        try:
            parse_url(url)
        except ValueError as exc:
            raise FanOutError(f"not a Redis URL: {url!r} ({exc})") from exc
        if not 0 < reconnect_min <= reconnect_max:
            raise FanOutError("need 0 < reconnect_min <= reconnect_max")
        #: The Redis URL, e.g. ``redis://127.0.0.1:6379/0``.
        self.url = url
        self.reconnect_min = reconnect_min
        self.reconnect_max = reconnect_max
        self.max_queue = max_queue
        self.connect_timeout = connect_timeout
        #: Messages published by this FanOut that Redis never got (it was
        #: down, or the queue was full): the price of at-most-once.
        self.dropped = 0
        self._subs: dict[str, list[tuple[FanOutCallback, bool]]] = {}
        self._queue: deque[tuple[str, bytes]] = deque()
        self._id = uuid.uuid4().bytes
        self._id_pid = os.getpid()
        self._pid = -1
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._pubsub: PubSub | None = None
        self._subscribed = False
        self._down = False
        self._closed = False
        self._pub_retry_at = 0.0

    # ------------------------------------------------------------------ API

    @property
    def is_connected(self) -> bool:
        """Whether the subscription connection is up and subscribed to every channel."""
        return self._subscribed and not self._down

    def subscribe(
        self, channel: str, callback: FanOutCallback, *, echo: bool = False
    ) -> None:
        """Call ``callback(message)`` for each message published on ``channel``.

        ``echo=True`` also delivers the messages this FanOut publishes itself
        (by default they are left out: the publishing process has its own
        sockets already). May be called before the loop runs; the
        subscription starts with the connection.
        """
        _check_channel(channel)
        callbacks = self._subs.setdefault(channel, [])
        new_channel = not callbacks
        callbacks.append((callback, echo))
        if self._start_if_on_loop() and new_channel:
            pubsub = self._pubsub
            if pubsub is not None and self._subscribed:
                self._spawn(self._subscribe_more(pubsub, channel))

    def unsubscribe(self, channel: str, callback: FanOutCallback) -> None:
        """Stop calling ``callback`` for ``channel`` (nothing if it was not subscribed)."""
        callbacks = self._subs.get(channel, [])
        self._subs[channel] = [(cb, e) for cb, e in callbacks if cb is not callback]
        if not self._subs[channel]:
            del self._subs[channel]
            pubsub = self._pubsub
            if pubsub is not None and self._subscribed and self._on_loop():
                self._spawn(self._unsubscribe(pubsub, channel))

    def publish(
        self, channel: str, message: str | bytes | bytearray | memoryview
    ) -> None:
        """Queue ``message`` for every subscriber of ``channel`` on this Redis.

        Returns at once; must be called on the event loop. A ``str`` is
        published as UTF-8. When Redis is down the message is dropped and
        counted in :attr:`dropped` (at most once).

        Raises:
            MessageTypeError: ``message`` is not ``str`` or bytes-like.
            FanOutError: an empty channel name, or no event loop is running.
        """
        _check_channel(channel)
        if isinstance(message, str):
            data = message.encode()
        elif isinstance(message, bytes | bytearray | memoryview):
            data = bytes(message)
        else:
            raise MessageTypeError(
                f"publish() sends str or bytes, not {type(message).__name__}"
            )
        if self._closed:
            self.dropped += 1
            return
        if not self._start_if_on_loop():
            raise FanOutError(
                "FanOut.publish() must be called on the running event loop"
            )
        assert self._loop is not None
        if self._loop.time() < self._pub_retry_at or len(self._queue) >= self.max_queue:
            self.dropped += 1
            return
        self._queue.append((channel, data))
        wake = self._wake
        if wake is not None:
            wake.set()

    def start(self) -> None:
        """Connect now rather than at the first call (needs the running loop).

        Raises:
            FanOutError: no event loop is running.
        """
        if not self._start_if_on_loop():
            raise FanOutError("FanOut.start() must be called on the running event loop")

    async def close(self) -> None:
        """Stop both connections; later calls to :meth:`publish` are dropped."""
        self._closed = True
        self._down = True
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # --------------------------------------------------------- internals

    def _on_loop(self) -> bool:
        try:
            return asyncio.get_running_loop() is self._loop
        except RuntimeError:
            return False

    def _start_if_on_loop(self) -> bool:
        """Start the connections on the running loop; False if no loop runs."""
        if self._closed:
            return True
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return False
        if self._loop is loop and self._pid == os.getpid():
            return True
        # First use here, or in a forked worker: what the parent had is not ours,
        # nor its id (two workers with one id would drop each other's messages).
        if self._pid not in (-1, os.getpid()) or self._id_pid != os.getpid():
            self._id = uuid.uuid4().bytes
            self._id_pid = os.getpid()
        self._loop = loop
        self._pid = os.getpid()
        self._tasks = []
        self._pubsub = None
        self._subscribed = False
        self._down = False
        self._pub_retry_at = 0.0
        self._wake = asyncio.Event()
        self._spawn(self._listen())
        self._spawn(self._write())
        return True

    def _spawn(self, coro: Any) -> None:
        assert self._loop is not None
        task: asyncio.Task[None] = self._loop.create_task(coro)
        self._tasks.append(task)
        task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[None]) -> None:
        with contextlib.suppress(ValueError):
            self._tasks.remove(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("fan-out task failed", exc_info=task.exception())

    def _client(self, role: str) -> Redis:
        from redis.asyncio import Redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        # No retries inside redis-py: this class owns reconnecting, so that it
        # can log once, drop at most once, and resubscribe everything.
        client: Redis = Redis.from_url(
            self.url,
            retry=Retry(NoBackoff(), 0),
            socket_connect_timeout=self.connect_timeout,
            socket_keepalive=True,
            single_connection_client=role == "pub",
            client_name=f"perfectws-{role}-{os.getpid()}",
        )
        return client

    def _went_down(self, exc: BaseException) -> None:
        if not self._down:
            self._down = True
            logger.warning(
                "fan-out: Redis at %s is unreachable (%s); local delivery goes on, "
                "messages to other processes are dropped until it is back "
                "(retrying every %g s at most)",
                _redacted(self.url),
                str(exc) or type(exc).__name__,
                self.reconnect_max,
            )
        self._subscribed = False

    def _came_back(self) -> None:
        if self._down and not self._closed:
            self._down = False
            logger.info(
                "fan-out: Redis at %s is back; subscribed to %d channel(s); "
                "%d message(s) dropped so far",
                _redacted(self.url),
                len(self._subs),
                self.dropped,
            )

    def _backoff(self, delay: float) -> float:
        return min(self.reconnect_max, delay * 2) * random.uniform(0.8, 1.0)

    async def _listen(self) -> None:
        """Hold the subscription connection: subscribe, deliver, reconnect."""
        delay = self.reconnect_min
        while True:
            client = self._client("sub")
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                # PING first: it also opens the connection when there is no
                # channel yet, so a Redis that is down is noticed at once.
                await pubsub.ping()
                await pubsub.get_message(timeout=self.connect_timeout)
                channels = list(self._subs)
                if channels:
                    await pubsub.subscribe(*channels)
                self._pubsub = pubsub
                self._subscribed = True
                self._came_back()
                delay = self.reconnect_min
                while True:
                    message = await pubsub.get_message(
                        ignore_subscribe_messages=True, timeout=None
                    )
                    batch = [message]
                    # What Redis has already sent is read without waiting and
                    # delivered in one trampoline pass, so that each socket
                    # gets one send() for the lot: a publication delivered
                    # alone costs a send per socket (docs/performance.md).
                    while len(batch) < _BATCH:
                        more = await pubsub.get_message(
                            ignore_subscribe_messages=True, timeout=0
                        )
                        if more is None:
                            break
                        batch.append(more)
                    trampoline.run(self, self._deliver_batch, batch)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # redis' ConnectionError, TimeoutError, OSError
                self._went_down(exc)
                logger.debug("fan-out: subscription lost", exc_info=True)
            finally:
                self._subscribed = False
                self._pubsub = None
                # Bounded: a connection to a Redis that vanished must not hold
                # a shutdown (or the reconnection) up.
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(pubsub.aclose(), _CLOSE_TIMEOUT)  # type: ignore[no-untyped-call]
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(client.aclose(), _CLOSE_TIMEOUT)
            await asyncio.sleep(delay)
            delay = self._backoff(delay)

    async def _subscribe_more(self, pubsub: PubSub, channel: str) -> None:
        # A failure here breaks the connection, which _listen notices and
        # answers by subscribing to every channel again.
        with contextlib.suppress(Exception):
            await pubsub.subscribe(channel)

    async def _unsubscribe(self, pubsub: PubSub, channel: str) -> None:
        with contextlib.suppress(Exception):
            await pubsub.unsubscribe(channel)

    def _deliver_batch(self, batch: list[dict[str, Any] | None]) -> None:
        for message in batch:
            if message is not None and message["type"] == "message":
                self._deliver(message["channel"], message["data"])

    def callback_failed(self) -> None:
        """The trampoline's owner hook: a delivery outside the callbacks failed."""
        logger.exception("fan-out delivery failed")

    def _deliver(self, raw_channel: bytes, data: bytes) -> None:
        channel = raw_channel.decode(errors="replace")
        own = False
        if data.startswith(_MAGIC) and len(data) >= _HEADER_SIZE:
            own = data[len(_MAGIC) : _HEADER_SIZE] == self._id
            data = data[_HEADER_SIZE:]
        for callback, echo in list(self._subs.get(channel, ())):
            if own and not echo:
                continue
            try:
                callback(data)
            except Exception:
                logger.exception("fan-out callback for channel %r failed", channel)

    async def _write(self) -> None:
        """The single publisher: sends the queue in order, pipelined."""
        assert self._wake is not None and self._loop is not None
        wake = self._wake
        header = _MAGIC + self._id
        delay = self.reconnect_min
        client = self._client("pub")
        # Connect now, not at the first publish, so the first message is not late.
        with contextlib.suppress(Exception):
            await client.ping()
        try:
            while True:
                if not self._queue:
                    wake.clear()
                    await wake.wait()
                batch = [
                    self._queue.popleft() for _ in range(min(_BATCH, len(self._queue)))
                ]
                try:
                    async with client.pipeline(transaction=False) as pipe:
                        for channel, data in batch:
                            pipe.publish(channel, header + data)
                        await pipe.execute()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    # At most once: nothing is sent again, so nothing arrives
                    # twice or out of order. Until the back-off ends, publish()
                    # drops at once instead of queueing for a dead connection.
                    self.dropped += len(batch) + len(self._queue)
                    self._queue.clear()
                    self._went_down(exc)
                    logger.debug("fan-out: publish failed", exc_info=True)
                    self._pub_retry_at = self._loop.time() + delay
                    delay = self._backoff(delay)
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(client.aclose(), _CLOSE_TIMEOUT)
                    client = self._client("pub")
                else:
                    delay = self.reconnect_min
                    self._came_back()
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.aclose(), _CLOSE_TIMEOUT)


def _check_channel(channel: str) -> None:
    if not isinstance(channel, str) or not channel:
        raise FanOutError(f"a channel is a non-empty str, not {channel!r}")


def _redacted(url: str) -> str:
    """The URL without its password, for logs."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        rest = "***@" + rest.rsplit("@", 1)[1]
    return scheme + sep + rest
