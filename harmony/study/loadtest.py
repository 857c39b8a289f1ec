"""A loopback load generator for the study server (used by the load test and ``benchmarks/``).

``run_load`` simulates raters against a running server with asyncio and persistent HTTP/1.1 connections
(one per client): each client takes raters one after another, creates a session, fetches the state and
answers pairs until the quota. A fraction ``resend`` of votes is sent twice with the same vote id (a
retry after a lost acknowledgement, or a double click); a connection error is retried with the same vote
id after reconnecting. It returns every acknowledged vote id and the latency of each vote (first send to
acknowledgement), so a caller can check the database holds exactly the acknowledged votes, once each.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from dataclasses import dataclass, field


@dataclass
class LoadResult:
    """What :func:`run_load` measured.

    Attributes
    ----------
    acked : list of str
        Vote ids acknowledged with 200.
    latencies_ms : list of float
        First send to acknowledgement, per vote.
    resent : int
        Votes sent twice on purpose (``resend``).
    duplicates_acked : int
        Second sends the server answered as duplicates.
    errors : int
        Connection errors (each retried with the same vote id).
    wall_s : float
        Duration of the run.
    """

    acked: list[str] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    resent: int = 0
    duplicates_acked: int = 0
    errors: int = 0
    wall_s: float = 0.0

    @property
    def votes_per_s(self) -> float:
        """Acknowledged votes per second of wall-clock time (NaN before a run).

        Returns
        -------
        float
        """
        return len(self.acked) / self.wall_s if self.wall_s else float("nan")


class _Conn:
    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader = self.writer = None

    async def open(self):
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def close(self):
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except OSError:
                pass
            self.writer = None

    async def request(self, method: str, path: str, body: dict | None = None, session: str = "") -> tuple[int, dict]:
        if self.writer is None:
            await self.open()
        data = b"" if body is None else json.dumps(body).encode()
        head = (f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
                f"X-Session: {session}\r\nContent-Length: {len(data)}\r\n\r\n").encode()
        self.writer.write(head + data)
        await self.writer.drain()
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("connection closed")
        status = int(status_line.split()[1])
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            k, _, v = line.decode().partition(":")
            if k.lower() == "content-length":
                length = int(v)
        payload = await self.reader.readexactly(length) if length else b""
        return status, (json.loads(payload) if payload[:1] == b"{" else {})


async def _client(host, port, raters: list[int], resend: float, rng: random.Random, out: LoadResult):
    conn = _Conn(host, port)

    async def call(method, path, body=None, session=""):
        for attempt in range(20):
            try:
                return await conn.request(method, path, body, session)
            except (ConnectionError, OSError, asyncio.IncompleteReadError):
                out.errors += 1
                await conn.close()
                await asyncio.sleep(0.05 * (attempt + 1))
        raise RuntimeError("server unreachable after 20 tries")

    for _r in raters:
        status, j = await call("POST", "/api/session", {"consent": True, "params": {}})
        if status != 200:
            raise RuntimeError(f"session: HTTP {status} {j}")
        session = j["session"]
        status, st = await call("GET", "/api/state", session=session)
        while st.get("state") == "rate":
            vote = {"vote_id": uuid.uuid4().hex, "token": st["token"], "choice": rng.choice(("left", "right")),
                    "response_ms": rng.uniform(300, 3000)}
            t0 = time.perf_counter()
            status, nxt = await call("POST", "/api/vote", vote, session)
            while status >= 500:
                status, nxt = await call("POST", "/api/vote", vote, session)
            if status != 200:
                raise RuntimeError(f"vote: HTTP {status} {nxt}")
            out.latencies_ms.append(1000 * (time.perf_counter() - t0))
            out.acked.append(vote["vote_id"])
            if rng.random() < resend:                   # the same vote again: must be acknowledged, not stored
                out.resent += 1
                s2, again = await call("POST", "/api/vote", vote, session)
                if s2 == 200 and again.get("duplicate"):
                    out.duplicates_acked += 1
                nxt = again if s2 == 200 else nxt
            st = nxt
    await conn.close()


def run_load(base_url: str, *, raters: int = 200, clients: int = 50, resend: float = 0.05,
             seed: int = 0) -> LoadResult:
    """Simulate ``raters`` raters through ``clients`` concurrent connections (see the module docstring).

    Parameters
    ----------
    base_url : str
        The running server, e.g. ``http://127.0.0.1:8000``.
    raters : int
        Raters simulated (each answers pairs until its quota).
    clients : int
        Concurrent persistent HTTP/1.1 connections.
    resend : float
        Share in [0, 1] of votes sent twice with the same vote id.
    seed : int
        Seed of the simulated answers and resends.

    Returns
    -------
    LoadResult
    """
    from urllib.parse import urlparse

    u = urlparse(base_url)
    out = LoadResult()
    rng = random.Random(seed)
    groups = [list(range(k, raters, clients)) for k in range(clients)]

    async def main():
        t0 = time.perf_counter()
        await asyncio.gather(*(_client(u.hostname, u.port, g, resend, random.Random(rng.random()), out)
                               for g in groups if g))
        out.wall_s = time.perf_counter() - t0

    asyncio.run(main())
    return out
