"""Soak `chatapp serve`: a steady message rate for a long time, RSS printed each minute.

    .venv/bin/python bench/soak.py                      # 30 minutes, 10 messages/s
    .venv/bin/python bench/soak.py --minutes 5 --rate 20 --clients 10
    .venv/bin/python bench/soak.py --url http://127.0.0.1:8000   # a server you started

A room of --clients connections; the first --senders send --rate messages/s in
total; every --churn seconds one listener disconnects and reconnects (so
$connect / $disconnect and the gateway's registry turn over too). Each minute:
messages sent and delivered, lost so far, p50 / p99 latency of that minute, and
the resident memory of the server process and of its database process. The
database holds every message (that part grows with the data, by design); the
server process should stay flat after warm-up. At the end: growth per minute
after --warmup, less what the stored messages cost in memory (measured by
bench/stored_rss.py on the run's own snapshot). No assertions: figures only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import signal
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from load import PROJECT_ROOT, percentile, signup
from stored_rss import rss_mb, stored_mb
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.support.frames import unwrap
from tests.support.localserver import start_local_server

_ = PROJECT_ROOT


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found.extend(int(child) for child in text)
    return found


class Soak:
    def __init__(self, args: argparse.Namespace, ws_base: str, tokens: list[str]) -> None:
        self.args = args
        self.room = f"soak-{int(time.time())}"
        self.urls = [f"{ws_base}?token={t}&room={self.room}" for t in tokens]
        self.sent_at: dict[str, float] = {}
        self.latencies: list[float] = []
        self.sent = self.delivered = self.reconnects = 0
        self.seen_by_listener: list[set[str]] = [set() for _ in tokens]
        self.sockets: dict[int, object] = {}  # listener index → its open connection
        self.errors: list[dict] = []
        self.rows: list[tuple[int, int, dict[str, float]]] = []  # minute, sent, RSS by process

    async def listen(self, index: int) -> None:
        """Stay connected; reconnect when churned; record deliveries."""
        while True:
            try:
                async with connect(self.urls[index], max_size=None) as ws:
                    self.sockets[index] = ws
                    async for raw in ws:
                        for frame in unwrap(raw):
                            if frame.get("type") == "presence":  # not traffic
                                continue
                            if frame.get("type") != "message":
                                self.errors.append(frame)
                                continue
                            key = frame["message"].get("clientId")
                            if key in self.seen_by_listener[index]:
                                continue
                            self.seen_by_listener[index].add(key)
                            self.delivered += 1
                            sent = self.sent_at.get(key)
                            if sent is not None:
                                self.latencies.append(time.perf_counter() - sent)
            except asyncio.CancelledError:
                return
            except Exception as error:
                print(f"  listener {index} dropped: {error!r}")

    async def send(self) -> None:
        """Senders are the first listeners (never churned): they read what they send."""
        interval = 1.0 / self.args.rate
        next_at = time.perf_counter()
        n = 0
        while True:
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
            ws = self.sockets[n % self.args.senders]
            key = f"m{n}"
            n += 1
            self.sent_at[key] = time.perf_counter()
            try:
                await ws.send(json.dumps({"action": "sendMessage", "text": key, "clientId": key}))
            except ConnectionClosed:  # its listener reconnects; this one was never sent
                del self.sent_at[key]
                continue
            self.sent += 1

    async def run(self, pids: dict[str, int]) -> None:
        args = self.args
        listeners = {i: asyncio.create_task(self.listen(i)) for i in range(len(self.urls))}
        while len(self.sockets) < len(self.urls):
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)
        sender = asyncio.create_task(self.send())
        started = time.perf_counter()
        next_churn = started + args.churn
        print(
            "minute   sent  delivered  lost  p50 ms  p99 ms  "
            + "  ".join(f"{name} RSS MB" for name in pids)
        )
        for minute in range(1, args.minutes + 1):
            while time.perf_counter() - started < minute * 60:
                await asyncio.sleep(0.5)
                if args.churn and time.perf_counter() > next_churn:
                    victim = random.randrange(args.senders, len(self.urls))
                    listeners[victim].cancel()
                    # Messages sent while it is away are not expected by it.
                    listeners[victim] = asyncio.create_task(self.listen(victim))
                    self.reconnects += 1
                    next_churn += args.churn
            window, self.latencies = self.latencies, []
            # Lost: sent over 5 s ago and not seen by a connection that never left.
            settled = [k for k, t in self.sent_at.items() if time.perf_counter() - t > 5]
            lost = sum(
                1
                for index in range(args.senders)
                for key in settled
                if key not in self.seen_by_listener[index]
            )
            rss = {name: rss_mb(pid) for name, pid in pids.items()}
            self.rows.append((minute, self.sent, rss))
            print(
                f"{minute:6d} {self.sent:6d} {self.delivered:10d} {lost:5d}"
                f" {percentile(window, 50) * 1000:7.1f} {percentile(window, 99) * 1000:7.1f}  "
                + "  ".join(f"{value:11.1f}" for value in rss.values()),
                flush=True,
            )
        sender.cancel()
        for task in listeners.values():
            task.cancel()
        print(f"reconnects {self.reconnects}, error frames {len(self.errors)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=int, default=30)
    parser.add_argument("--rate", type=float, default=10.0, help="messages/s, all senders")
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--senders", type=int, default=2)
    parser.add_argument("--churn", type=float, default=10.0, help="seconds between reconnects")
    parser.add_argument("--url", help="a running chatapp serve (no RSS figures then)")
    parser.add_argument(
        "--warmup",
        type=int,
        default=12,
        help="minutes before growth is measured (the database keeps 10 minutes of stream)",
    )
    args = parser.parse_args()
    if not 0 < args.senders < args.clients:
        parser.error("need 0 < --senders < --clients")
    # SIGTERM (e.g. `timeout`) ends the run through the finally below: the server stops too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.url:
        base = args.url.rstrip("/")
        run(args, base + "/api", "ws" + base.removeprefix("http") + "/ws", {})
        return
    data_dir = Path(tempfile.mkdtemp(prefix="chatapp-soak-"))
    server = start_local_server(data_dir, "--rate-limit", "0")
    try:
        assert server.process is not None
        pids = {"server": server.process.pid}
        for child in children(server.process.pid):
            pids["database"] = child
        soak = run(args, server.api_url, server.ws_url, pids)
    finally:
        server.stop()  # the database saves its snapshot
    report_growth(soak.rows, args.warmup, data_dir)


def report_growth(
    rows: list[tuple[int, int, dict[str, float]]], warmup: int, data_dir: Path
) -> None:
    """Growth per minute after warm-up, less what the stored messages cost (bench/stored_rss.py)."""
    after = [row for row in rows if row[0] >= warmup]
    if len(after) < 2:
        print(f"growth: run longer than --warmup {warmup} minutes for a figure")
        return
    (first, sent_first, rss_first), (last, sent_last, rss_last) = after[0], after[-1]
    minutes = last - first
    growth = {name: (rss_last[name] - rss_first[name]) / minutes for name in rss_last}
    stored, items = stored_mb(data_dir)
    per_message = stored / rows[-1][1]  # each message stores itself and its clientId marker
    explained = per_message * (sent_last - sent_first) / minutes
    total = sum(growth.values())
    print(
        f"growth, minutes {first}-{last}: "
        + ", ".join(f"{name} {mb:+.2f} MB/min" for name, mb in growth.items())
        + f"; stored data {explained:.2f} MB/min ({items} items cost {stored:.1f} MB in a fresh"
        f" database, {per_message * 1024:.1f} KB per message); not explained by stored data:"
        f" {total - explained:+.2f} MB/min (target <= 2)"
    )


def run(args: argparse.Namespace, api_url: str, ws_url: str, pids: dict[str, int]) -> Soak:
    stamp = int(time.time()) % 100000
    tokens = [signup(api_url, f"soak{stamp}-{i}") for i in range(args.clients)]
    print(
        f"soak: {args.minutes} min, {args.rate} messages/s into a room of {args.clients}"
        f" ({args.senders} senders), a reconnect every {args.churn}s"
    )
    soak = Soak(args, ws_url, tokens)
    asyncio.run(soak.run(pids))
    return soak


if __name__ == "__main__":
    main()
