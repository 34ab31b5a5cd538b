"""The pre-fork supervisor behind ``HTTPServer(processes=N)``.

The parent binds the listening sockets, forks N workers that all accept on
them (the kernel spreads connections across the workers), then only
supervises: it passes SIGINT and SIGTERM on to every worker, replaces a worker
that dies while the server is up, and returns once every worker has exited.

Why the parent keeps its copy of the listening sockets while it supervises: a
replacement worker can only share the port's accept queue if it is forked
from a process holding that socket (one queue, so a worker killed with
``kill -9`` loses no queued connection, unlike per-worker ``SO_REUSEPORT``
sockets). The parent never accepts on it, and closes it the moment a stop
signal arrives, before passing the signal on: from then on no process holds
a listening socket it does not serve, and new connections are refused rather
than completed by the kernel and never answered.

Tornado's ``fork_processes`` is not used: its parent neither passes signals
on nor closes the listening socket, and it exits on SIGTERM leaving its
workers behind.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import socket
import time
from collections.abc import Sequence
from typing import Final

__all__ = ["STOP_SIGNALS", "supervise", "unblock_stop_signals"]

logger = logging.getLogger("perfectws.server")

STOP_SIGNALS: Final = frozenset({signal.SIGINT, signal.SIGTERM})

#: A worker that dies sooner than this after its start is replaced only after
#: this long, so that a worker that cannot start does not make the parent
#: fork in a tight loop.
RESPAWN_DELAY: Final = 1.0


def unblock_stop_signals() -> None:
    """Deliver SIGINT/SIGTERM again, once the caller's loop handles them.

    A worker keeps them blocked from its fork until its event loop has
    installed its handlers, so a signal that arrives in between is not lost
    and does not kill the worker without a graceful shutdown: it stays
    pending and is handled as soon as this is called.
    """
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


def supervise(count: int, sockets: Sequence[socket.socket]) -> bool:
    """Fork ``count`` workers; True in a worker, False in the parent once all exit.

    A worker returns with SIGINT/SIGTERM blocked (see
    :func:`unblock_stop_signals`). The parent passes the first and any
    further stop signal on to every worker; a second one makes the workers
    stop at once.
    """
    supervisor = _Supervisor(sockets)
    # Stop signals stay blocked around every fork: one that arrived in between
    # would reach the parent before it knows the new worker's pid.
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    for _ in range(count):
        if supervisor.fork():
            return True
    signal.signal(signal.SIGTERM, supervisor.on_stop_signal)
    signal.signal(signal.SIGINT, supervisor.on_stop_signal)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    return supervisor.wait()


class _Supervisor:
    """The parent's state: its workers, and whether a stop signal came."""

    def __init__(self, sockets: Sequence[socket.socket]) -> None:
        self.sockets = sockets
        self.workers: dict[int, float] = {}  # pid -> when it started
        # Set by the signal handler, under the loop in wait().
        self.stopping = False

    def on_stop_signal(self, signum: int, frame: object) -> None:
        if not self.stopping:
            self.stopping = True
            # New connections must be refused from now on: the workers close
            # their copies as they begin to drain, this is the last one.
            for sock in self.sockets:
                sock.close()
        for pid in list(self.workers):
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass

    def fork(self) -> bool:
        """Fork one worker; True in the worker."""
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            _stop_with(parent)
            return True
        self.workers[pid] = time.monotonic()
        return False

    def wait(self) -> bool:
        """Replace workers that die until a stop signal; True in a new worker."""
        while self.workers:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                break
            started = self.workers.pop(pid, None)
            if started is None or self.stopping:
                continue
            logger.warning("worker %d %s; starting a new one", pid, _describe(status))
            if self.respawn(started):
                return True
        return False

    def respawn(self, started: float) -> bool:
        """Fork a replacement, not sooner than RESPAWN_DELAY after ``started``."""
        if time.monotonic() - started < RESPAWN_DELAY:
            time.sleep(RESPAWN_DELAY)
            if self.stopping:
                return False
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        if self.stopping:  # a stop signal came during the sleep
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
            return False
        if self.fork():
            return True
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        return False


def _stop_with(parent: int) -> None:
    """Have the kernel send this worker SIGTERM when its supervisor dies.

    So a supervisor killed by SIGKILL (which it cannot pass on) leaves no
    worker serving behind it: each drains and exits as on any SIGTERM. Linux
    only (``prctl(PR_SET_PDEATHSIG)``); elsewhere nothing happens.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # it died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)


_PR_SET_PDEATHSIG: Final = 1


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"was killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exited with status {os.waitstatus_to_exitcode(status)}"
