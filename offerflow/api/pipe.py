"""One Redis connection shared by every request on the decision path, its commands pipelined.

redis-py's asyncio client costs about 90 µs of CPU per command on a 2-core machine (a pooled
connection per request, a stream reader and writer, a timeout per call, its event hooks), two
fifths of a decision's own work. Redis answers a connection's commands in the order they came,
so a protocol that hands the n-th reply to the n-th command still waiting needs no pool and
no lock; with hiredis (redis-py's own C parser) reading the replies, a command costs about
30 µs. The commands of one turn of the event loop leave in one write: a socket write is the
dearest part of a command on this kind of virtual machine, and Redis reads them as one batch.
Errors are redis-py's exception classes, so callers handle both clients alike.

A command that gets no reply in ``timeout_s`` fails with :class:`TimeoutError`, and so does
every command behind it: the connection is closed (a late reply would otherwise go to the
wrong command) and the next command opens a new one. A failed attempt to connect stands for
``timeout_s``: the commands that queued behind it fail at once instead of each trying again in
turn.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ssl
from typing import Any

import hiredis
from redis import exceptions
from redis.asyncio.connection import SSLConnection, parse_url


class RedisPipe:
    """Commands over one pipelined connection to the Redis at ``url`` (``redis://``,
    ``rediss://`` or ``unix://``, with the user, password and database it names)."""

    def __init__(self, url: str, timeout_s: float) -> None:
        self.options = parse_url(url)
        self.timeout_s = timeout_s
        self._link: _Link | None = None
        self._opening = asyncio.Lock()
        self._failed: tuple[float, str] = (-float("inf"), "")  # the last failed attempt

    async def call(self, *args: Any) -> Any:
        """Send one command and return its reply (raises what redis-py would)."""
        link = self._link
        if link is None or link.closed:
            link = await self._open()
        return await link.call(args, self.timeout_s)

    async def close(self) -> None:
        if self._link is not None:
            self._link.close(exceptions.ConnectionError("closed"))

    async def _open(self) -> _Link:
        async with self._opening:  # one connection, however many requests arrive meanwhile
            if self._link is not None and not self._link.closed:
                return self._link
            loop = asyncio.get_running_loop()
            failed_at, why = self._failed
            if loop.time() - failed_at < self.timeout_s:
                raise exceptions.ConnectionError(why)
            options = self.options
            try:
                async with asyncio.timeout(self.timeout_s):
                    if "path" in options:
                        _, link = await loop.create_unix_connection(_Link, options["path"])
                    else:
                        tls = options.get("connection_class") is SSLConnection
                        host, port = options.get("host", "localhost"), options.get("port", 6379)
                        context = ssl.create_default_context() if tls else None
                        _, link = await loop.create_connection(_Link, host, port, ssl=context)
            except (OSError, TimeoutError) as exc:
                self._failed = (loop.time(), f"cannot reach Redis: {exc}")
                raise exceptions.ConnectionError(self._failed[1]) from None
            try:
                if options.get("password") is not None:
                    user = options.get("username")
                    await link.call(("AUTH", *([user] if user else []), options["password"]), 5)
                if options.get("db"):
                    await link.call(("SELECT", options["db"]), self.timeout_s)
            except BaseException as exc:  # refused or cancelled: the socket is not kept open
                link.close(exceptions.ConnectionError(f"Redis refused the connection: {exc}"))
                raise
            self._link = link
            return link


class _Link(asyncio.Protocol):
    """One connection: commands out in order, replies matched to the oldest waiting one."""

    def __init__(self) -> None:
        self.reader = hiredis.Reader(replyError=exceptions.ResponseError)
        self.waiting: collections.deque[asyncio.Future] = collections.deque()
        self.transport: Any = None
        self.closed = False
        self.outbox: list[bytes] = []

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    async def call(self, args: tuple, timeout_s: float) -> Any:
        if self.closed:
            raise exceptions.ConnectionError("connection to Redis lost")
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.waiting.append(future)
        if not self.outbox:
            loop.call_soon(self._flush)
        self.outbox.append(hiredis.pack_command(args))
        expiry = loop.call_later(timeout_s, self._expire, future)
        try:
            reply = await future
        finally:
            expiry.cancel()
        if isinstance(reply, exceptions.ResponseError):
            if str(reply).startswith("NOSCRIPT"):
                raise exceptions.NoScriptError(str(reply))
            raise reply
        return reply

    def _flush(self) -> None:
        if not self.closed:
            self.transport.write(b"".join(self.outbox))
        self.outbox.clear()

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        try:
            while (reply := self.reader.gets()) is not False:
                future = self.waiting.popleft()
                if not future.done():
                    future.set_result(reply)
        except (hiredis.ProtocolError, IndexError) as exc:  # not Redis, or a reply unasked for
            self.close(exceptions.ConnectionError(f"not a Redis answer: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.close(exceptions.ConnectionError(f"connection to Redis lost: {exc or 'closed'}"))

    def close(self, error: Exception) -> None:
        self.closed = True
        with contextlib.suppress(Exception):
            self.transport.close()
        while self.waiting:
            future = self.waiting.popleft()
            if not future.done():
                future.set_exception(error)

    def _expire(self, future: asyncio.Future) -> None:
        if not future.done():
            self.close(TimeoutError("Redis did not answer in time"))
