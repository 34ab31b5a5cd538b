"""FanOut against a real redis-server the test starts, kills and restarts."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_asyncio

from perfectws import FanOut, FanOutError, MessageTypeError, PerfectWSError
from tests.helpers import timeout
from tests.redis_process import RedisProcess, redis_server_fixture  # noqa: F401

# Short back-off so that the tests see reconnects quickly.
FAST = {"reconnect_min": 0.02, "reconnect_max": 0.5}


@pytest_asyncio.fixture
async def fanouts() -> AsyncIterator[Callable[..., FanOut]]:
    """``make(url)`` creates a FanOut that is closed after the test."""
    made: list[FanOut] = []

    def make(url: str, **options: Any) -> FanOut:
        fanout = FanOut(url, **{**FAST, **options})
        made.append(fanout)
        return fanout

    yield make
    for fanout in made:
        await fanout.close()


async def until(condition: Callable[[], bool], seconds: float = 5) -> float:
    """Wait for ``condition``; the seconds it took (fails after ``seconds``)."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout(seconds):
            pytest.fail(f"not true within {timeout(seconds):g} s")
        await asyncio.sleep(0.01)
    return time.monotonic() - started


async def connected(*fanouts: FanOut) -> None:
    for fanout in fanouts:
        fanout.start()
    await until(lambda: all(f.is_connected for f in fanouts))


@pytest.mark.asyncio
async def test_a_message_reaches_the_other_fanouts_not_its_publisher(
    redis_server: RedisProcess, fanouts: Callable[..., FanOut]
) -> None:
    a, b, c = (fanouts(redis_server.url) for _ in range(3))
    got: dict[str, list[bytes]] = {"a": [], "a_echo": [], "b": [], "c": []}
    a.subscribe("room", got["a"].append)
    a.subscribe("room", got["a_echo"].append, echo=True)
    b.subscribe("room", got["b"].append)
    c.subscribe("other", got["c"].append)
    await connected(a, b, c)
    a.publish("room", "from a")
    b.publish("room", b"\x00binary from b")
    await until(lambda: len(got["a"]) == 1 and len(got["b"]) == 1)
    await until(lambda: len(got["a_echo"]) == 2)
    await asyncio.sleep(0.1)
    assert got["a"] == [b"\x00binary from b"]
    assert got["b"] == [b"from a"]
    assert sorted(got["a_echo"]) == [b"\x00binary from b", b"from a"]
    assert got["c"] == []


@pytest.mark.asyncio
async def test_one_publishers_order_is_kept(
    redis_server: RedisProcess, fanouts: Callable[..., FanOut]
) -> None:
    a, b = fanouts(redis_server.url), fanouts(redis_server.url)
    got: list[bytes] = []
    b.subscribe("room", got.append)
    await connected(a, b)
    total = 5000
    for i in range(total):
        a.publish("room", str(i))
    await until(lambda: len(got) == total, 20)
    assert got == [str(i).encode() for i in range(total)]
    assert a.dropped == 0


@pytest.mark.asyncio
async def test_one_redis_connection_holds_every_subscription(
    redis_server: RedisProcess, fanouts: Callable[..., FanOut]
) -> None:
    a = fanouts(redis_server.url)
    for i in range(20):
        a.subscribe(f"channel-{i}", lambda data: None)
    await connected(a)
    a.subscribe("late", lambda data: None)
    await until(lambda: b"late" in redis_server.command("PUBSUB", "CHANNELS"))
    clients = redis_server.command("CLIENT", "LIST").decode()
    subscribers = [
        line for line in clients.splitlines() if f"perfectws-sub-{os.getpid()}" in line
    ]
    assert len(subscribers) == 1, clients
    assert "sub=21" in subscribers[0]


@pytest.mark.asyncio
async def test_messages_from_other_clients_arrive_whole(
    redis_server: RedisProcess, fanouts: Callable[..., FanOut]
) -> None:
    a = fanouts(redis_server.url)
    got: list[bytes] = []
    a.subscribe("room", got.append)
    await connected(a)
    assert redis_server.command("PUBLISH", "room", "plain").startswith(b":1")
    await until(lambda: got == [b"plain"])


@pytest.mark.asyncio
async def test_a_failing_callback_is_logged_and_the_others_still_run(
    redis_server: RedisProcess, fanouts: Callable[..., FanOut], log_guard: Any
) -> None:
    log_guard.expect("perfectws.fanout", "callback for channel 'room' failed")
    a, b = fanouts(redis_server.url), fanouts(redis_server.url)
    got: list[bytes] = []

    def broken(data: bytes) -> None:
        raise RuntimeError("a bug in the callback")

    b.subscribe("room", broken)
    b.subscribe("room", got.append)
    await connected(a, b)
    a.publish("room", "one")
    a.publish("room", "two")
    await until(lambda: got == [b"one", b"two"])
    assert len(log_guard.matching("perfectws.fanout", "failed")) == 2


@pytest.mark.asyncio
async def test_caller_mistakes_raise_clear_errors(
    redis_server: RedisProcess, fanouts: Callable[..., FanOut]
) -> None:
    with pytest.raises(FanOutError, match="not a Redis URL") as info:
        FanOut("http://127.0.0.1/")
    assert isinstance(info.value, ValueError) and isinstance(info.value, PerfectWSError)
    with pytest.raises(FanOutError):
        FanOut(redis_server.url, reconnect_min=2, reconnect_max=1)
    a = fanouts(redis_server.url)
    with pytest.raises(FanOutError, match="channel"):
        a.publish("", "x")
    with pytest.raises(FanOutError, match="channel"):
        a.subscribe("", lambda data: None)
    with pytest.raises(MessageTypeError):
        a.publish("room", 3.5)  # type: ignore[arg-type]


def test_publish_needs_the_event_loop(redis_server: RedisProcess) -> None:
    a = FanOut(redis_server.url)
    a.subscribe("room", lambda data: None)  # allowed: starts with the loop
    with pytest.raises(FanOutError, match="event loop"):
        a.publish("room", "x")


@pytest.mark.asyncio
async def test_redis_killed_and_restarted(
    redis_server: RedisProcess, fanouts: Callable[..., FanOut], log_guard: Any
) -> None:
    log_guard.expect("perfectws.fanout", "is unreachable")
    a, b = fanouts(redis_server.url), fanouts(redis_server.url)
    got_a: list[bytes] = []
    got_b: list[bytes] = []
    a.subscribe("room", got_a.append)
    b.subscribe("room", got_b.append)
    await connected(a, b)
    a.publish("room", "before")
    await until(lambda: got_b == [b"before"])

    redis_server.kill()
    # Both notice, each says so once, however often they retry and publish.
    await until(lambda: not a.is_connected and not b.is_connected)
    for i in range(50):
        a.publish("room", f"lost {i}")
        b.publish("room", f"lost {i}")
        await asyncio.sleep(0.02)
    warnings = log_guard.matching("perfectws.fanout", "is unreachable")
    assert len(warnings) == 2, [w.getMessage() for w in warnings]
    assert a.dropped > 0 and b.dropped > 0

    redis_server.start()
    started = time.monotonic()
    # Probe both ways until a message crosses: delivery resumes by itself.
    n = 0
    while not (
        any(m.startswith(b"b-") for m in got_a)
        and any(m.startswith(b"a-") for m in got_b)
    ):
        assert time.monotonic() - started < timeout(5), "no delivery 5 s after restart"
        n += 1
        a.publish("room", f"a-{n}")
        b.publish("room", f"b-{n}")
        await asyncio.sleep(0.05)
    assert not any(m.startswith(b"lost") for m in got_a + got_b)
    assert len(log_guard.matching("perfectws.fanout", "is unreachable")) == 2


@pytest.mark.asyncio
async def test_redis_down_at_start_then_up(
    redis_server: RedisProcess, fanouts: Callable[..., FanOut], log_guard: Any
) -> None:
    log_guard.expect("perfectws.fanout", "is unreachable")
    redis_server.kill()
    a, b = fanouts(redis_server.url), fanouts(redis_server.url)
    got: list[bytes] = []
    b.subscribe("room", got.append)
    a.start()
    b.start()
    await until(lambda: len(log_guard.matching("perfectws.fanout", "unreachable")) == 2)
    a.publish("room", "nobody hears this")
    redis_server.start()
    await until(lambda: a.is_connected and b.is_connected)
    n = 0
    while not got:
        n += 1
        a.publish("room", f"probe {n}")
        await asyncio.sleep(0.05)
        assert n < 100
    assert got[0].startswith(b"probe")
