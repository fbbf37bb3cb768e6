"""The decision path's pipelined Redis connection, against the real Redis and against servers
that never answer or are not there."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid

import pytest
import redis
from redis import exceptions

from config.settings import Settings
from offerflow.api.pipe import RedisPipe

pytestmark = pytest.mark.integration


def _url() -> str:
    return Settings.from_env({"OFFERFLOW_ENV": "dev"}).redis_url


def test_concurrent_commands_share_one_connection_and_get_their_own_replies(
    live_stack: None,
) -> None:
    url, key = _url(), f"test-pipe-{uuid.uuid4().hex[:8]}"

    async def go() -> tuple[list, int]:
        pipe = RedisPipe(url, 2.0)
        script = "redis.call('HSET', KEYS[1], ARGV[1], ARGV[1]) return tonumber(ARGV[1]) * 2"
        replies = await asyncio.gather(*(pipe.call("EVAL", script, 1, key, n) for n in range(500)))
        clients = await pipe.call("CLIENT", "LIST")
        await pipe.close()
        return replies, clients.count(b"cmd=client|list")

    replies, listed = asyncio.run(go())
    assert replies == [2 * n for n in range(500)] and listed == 1
    client = redis.Redis.from_url(url)
    assert client.hlen(key) == 500
    client.delete(key)


def test_errors_are_redis_py_exceptions_and_the_connection_goes_on(live_stack: None) -> None:
    url = _url()

    async def go() -> list[str]:
        pipe = RedisPipe(url, 2.0)
        seen = []
        for command in (("EVALSHA", "0" * 40, 0), ("NOSUCHCOMMAND",), ("ECHO", "still here")):
            try:
                seen.append((await pipe.call(*command)).decode())
            except exceptions.ResponseError as exc:
                seen.append(type(exc).__name__)
        killed = await pipe.call("CLIENT", "ID")
        redis.Redis.from_url(url).client_kill_filter(_id=killed)
        with pytest.raises(exceptions.ConnectionError):  # the kill, seen by this command
            await pipe.call("PING")
        seen.append((await pipe.call("ECHO", "reconnected")).decode())
        await pipe.close()
        return seen

    assert asyncio.run(go()) == ["NoScriptError", "ResponseError", "still here", "reconnected"]


def test_a_refused_handshake_closes_its_connection(live_stack: None) -> None:
    async def go() -> str:
        pipe = RedisPipe(f"{_url().rsplit('/', 1)[0]}/99999", 2.0)  # no such database
        with pytest.raises(exceptions.ResponseError) as refused:
            await pipe.call("PING")
        await asyncio.sleep(0.1)  # Redis sees the close
        return str(refused.value)

    assert "DB index" in asyncio.run(go())
    clients = redis.Redis.from_url(_url()).client_list()
    assert not [c for c in clients if c["cmd"] == "select"], clients


def test_a_silent_server_times_out_every_waiting_command_and_the_next_one_reconnects() -> None:
    async def go() -> tuple[list[str], float]:
        accepted = []

        async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            accepted.append(writer)
            await reader.read()  # reads, never answers

        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        pipe = RedisPipe(f"redis://127.0.0.1:{port}/0", 0.2)
        loop = asyncio.get_running_loop()
        started = loop.time()
        outcomes = await asyncio.gather(*(pipe.call("PING") for _ in range(3)),
                                        return_exceptions=True)  # fmt: skip
        took = loop.time() - started
        with pytest.raises(TimeoutError):
            await pipe.call("PING")
        server.close()
        return [type(o).__name__ for o in outcomes] + [str(len(accepted))], took

    names, took = asyncio.run(go())
    assert names == ["TimeoutError"] * 3 + ["2"] and took < 1.0


def test_a_server_that_is_not_redis_is_a_connection_error() -> None:
    async def go() -> str:
        async def web(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read(100)
            writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
            await writer.drain()

        server = await asyncio.start_server(web, "127.0.0.1", 0)
        pipe = RedisPipe(f"redis://127.0.0.1:{server.sockets[0].getsockname()[1]}/0", 1.0)
        try:
            await pipe.call("PING")
        except exceptions.ConnectionError as exc:
            return str(exc)
        finally:
            server.close()
        return "answered"

    assert asyncio.run(go()).startswith("not a Redis answer")


def test_no_server_is_a_connection_error_that_queued_commands_share() -> None:
    full = socket.socket()  # listens, never accepts: once its backlog is full, connects hang
    full.bind(("127.0.0.1", 0))
    full.listen(0)
    port = full.getsockname()[1]
    fillers = []
    for _ in range(3):
        with contextlib.suppress(OSError):
            fillers.append(socket.create_connection(("127.0.0.1", port), timeout=0.2))

    async def go() -> tuple[list[str], float]:
        pipe = RedisPipe(f"redis://127.0.0.1:{port}/0", 0.2)
        loop = asyncio.get_running_loop()
        started = loop.time()
        outcomes = await asyncio.gather(*(pipe.call("PING") for _ in range(20)),
                                        return_exceptions=True)  # fmt: skip
        return [str(o) for o in outcomes], loop.time() - started

    outcomes, took = asyncio.run(go())
    for sock in (full, *fillers):
        sock.close()
    assert all(o.startswith("cannot reach Redis") for o in outcomes), outcomes
    assert took < 1.0  # one attempt's timeout, not twenty in turn

    async def refused() -> None:
        await RedisPipe("redis://127.0.0.1:1/0", 0.5).call("PING")

    with pytest.raises(exceptions.ConnectionError, match="cannot reach Redis"):
        asyncio.run(refused())
