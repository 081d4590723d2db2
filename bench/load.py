"""Load on `chatapp serve`: N clients in one room, S senders x M messages, a send window.

    .venv/bin/python bench/load.py                     # both scenarios, 1 and default instances
    .venv/bin/python bench/load.py --instances 4       # only `chatapp serve --instances 4`
    .venv/bin/python bench/load.py --clients 50 --senders 10 --messages 100 --rate 0
    .venv/bin/python bench/load.py --url http://127.0.0.1:8000   # a server you started

Each sender keeps at most --window of its own messages in flight (sent, not yet
back from the fan-out), and all senders together send at most --rate messages
per second (0: as fast as the window allows). Every client records when each
message arrives; latency is send → receive on one clock (one process).

Printed per run: messages/s and deliveries/s over the run, p50 / p99 / max
latency, lost (expected deliveries never seen) and duplicated (a message seen
twice by one client; allowed by the protocol, but counted). The same client code
runs against a bare `websockets` broadcast server (no auth, no storage, no
stream) in its own process: the machine's physical limit, for comparison.
No assertions: these are figures, not tests.

For each `--instances` setting (default: 1, then `chatapp serve`'s default, the
CPU count and at least 2) a server is started and, per run, the CPU each
process spent is read from /proc (utime + stime of the server, its Lambda
instances and the database process) and divided by the messages sent, beside
what the server reports at /_local/instances.json: the CPU of each function in
the instances, of the stream pollers' threads and of answering the handlers'
Management API posts in the server, and the AWS calls of each function.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from websockets.asyncio.client import connect

from tests.support.chatclient import action_frame, connect_url, signup
from tests.support.frames import unwrap
from tests.support.localserver import LocalServer, free_port, start_local_server

QUIET_SECONDS = 10.0  # no delivery for this long after the last send: the rest is lost


@dataclass
class Run:
    name: str
    sent_at: dict[str, float] = field(default_factory=dict)  # clientId → send time
    latencies: list[float] = field(default_factory=list)
    deliveries: int = 0
    duplicates: int = 0
    errors: list[dict] = field(default_factory=list)
    first_send: float = 0.0
    last_delivery: float = 0.0
    expected: int = 0
    last_received: dict[str, float] = field(default_factory=dict)  # clientId → last client's


async def client_task(ws, run: Run, mine: set[str], own_in_flight: asyncio.Semaphore | None):
    seen: set[str] = set()
    async for raw in ws:
        for frame in unwrap(raw):
            if frame.get("type") == "presence":  # others coming and going: not traffic
                continue
            if frame.get("type") != "message":
                run.errors.append(frame)
                continue
            message = frame["message"]
            now = time.perf_counter()
            key = message.get("clientId") or message["id"]
            if key in seen:
                run.duplicates += 1
                continue
            seen.add(key)
            run.deliveries += 1
            run.last_delivery = now
            run.last_received[key] = now
            sent = run.sent_at.get(key)
            if sent is not None:
                run.latencies.append(now - sent)
            if own_in_flight is not None and key in mine:
                own_in_flight.release()


async def sender_task(ws, run: Run, sender: int, count: int, window, pacer) -> None:
    for n in range(count):
        await window.acquire()
        await pacer()
        client_id = f"s{sender}-{n}"
        run.sent_at[client_id] = time.perf_counter()
        if not run.first_send:
            run.first_send = run.sent_at[client_id]
        await ws.send(action_frame("sendMessage", text=f"load {client_id}", clientId=client_id))


def make_pacer(rate: float):
    if rate <= 0:

        async def unpaced() -> None:
            return None

        return unpaced
    interval, next_at = 1.0 / rate, [time.perf_counter()]

    async def paced() -> None:
        now = time.perf_counter()
        next_at[0] = max(next_at[0] + interval, now)
        if next_at[0] > now:
            await asyncio.sleep(next_at[0] - now)

    return paced


async def run_load(name: str, ws_urls: list[str], args: argparse.Namespace) -> Run:
    run = Run(name, expected=args.senders * args.messages * args.clients)
    # No keepalive pings: on a saturated machine a late pong would end a run, not measure it.
    sockets = [
        await connect(url, max_size=None, open_timeout=60, ping_interval=None) for url in ws_urls
    ]
    await asyncio.sleep(0.5)  # every $connect has stored its connection
    windows = [asyncio.Semaphore(args.window) for _ in range(args.senders)]
    readers = []
    for index, ws in enumerate(sockets):
        if index < args.senders:
            mine = {f"s{index}-{n}" for n in range(args.messages)}
            readers.append(asyncio.create_task(client_task(ws, run, mine, windows[index])))
        else:
            readers.append(asyncio.create_task(client_task(ws, run, set(), None)))
    pacer = make_pacer(args.rate)
    await asyncio.gather(
        *(
            sender_task(sockets[i], run, i, args.messages, windows[i], pacer)
            for i in range(args.senders)
        )
    )
    last_count, last_change = -1, time.perf_counter()
    while run.deliveries < run.expected and time.perf_counter() - last_change < QUIET_SECONDS:
        if run.deliveries != last_count:
            last_count, last_change = run.deliveries, time.perf_counter()
        await asyncio.sleep(0.05)
    for ws in sockets:
        await ws.close()
    for reader in readers:
        reader.cancel()
    return run


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def report(run: Run, args: argparse.Namespace) -> None:
    duration = max(run.last_delivery - run.first_send, 1e-9)
    messages = args.senders * args.messages
    print(
        f"  {run.name:9} {messages / duration:8.0f} msg/s {run.deliveries / duration:9.0f} deliv/s"
        f"  p50 {percentile(run.latencies, 50) * 1000:6.1f} ms"
        f"  p99 {percentile(run.latencies, 99) * 1000:6.1f} ms"
        f"  max {max(run.latencies, default=float('nan')) * 1000:6.1f} ms"
        f"  lost {run.expected - run.deliveries:5d}  dup {run.duplicates:4d}"
        + (f"  error frames {len(run.errors)} e.g. {run.errors[0]}" if run.errors else "")
    )


# -- CPU and calls per message, by stage --------------------------------------------------


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc/PID/stat (fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Meter:
    """Samples a chatapp server's processes and its own accounts, before and after a run."""

    def __init__(self, base_url: str) -> None:
        self.url = base_url + "/_local/instances.json"

    def sample(self) -> dict:
        with urllib.request.urlopen(self.url, timeout=30) as answer:
            report = json.load(answer)
        pids = {"server": report["server"]["pid"], "database": report["database"]["pid"]}
        pids.update({f"instance {i['index']}": i["pid"] for i in report["instances"]})
        report["cpu"] = {name: process_cpu_seconds(pid) for name, pid in pids.items() if pid}
        endpoint = report["database"].get("endpoint")
        report["operations"] = {}
        if endpoint:  # the embedded database's own account (not with --dynamodb-endpoint)
            with urllib.request.urlopen(endpoint + "/_local/operations", timeout=30) as answer:
                report["operations"] = json.load(answer)
        return report

    @staticmethod
    def print_stages(before: dict, after: dict, messages: int) -> None:
        def cpu(name: str) -> float:
            return after["cpu"].get(name, 0.0) - before["cpu"].get(name, 0.0)

        def per_message_ms(seconds: float) -> str:
            return f"{seconds / messages * 1000:5.2f}"

        poll = sum(after["pollers"][n]["cpuSeconds"] - before["pollers"][n]["cpuSeconds"]
                   for n in after["pollers"])
        reads = sum(after["pollers"][n]["getRecords"] - before["pollers"][n]["getRecords"]
                    for n in after["pollers"])
        posts = after["posts"]["cpuSeconds"] - before["posts"]["cpuSeconds"]
        post_count = after["posts"]["count"] - before["posts"]["count"]
        server = cpu("server")
        workers = sum(cpu(name) for name in after["cpu"] if name.startswith("instance"))
        database = cpu("database")
        print(f"    CPU ms per message: server {per_message_ms(server)}"
              f" (stream poll {per_message_ms(poll)}, answering posts {per_message_ms(posts)},"
              f" gateway + the rest {per_message_ms(server - poll - posts)}),"
              f" instances {per_message_ms(workers)}, database {per_message_ms(database)};"
              f" total {per_message_ms(server + workers + database)}")
        functions = after["functions"]
        calls_total = 0.0
        for name in sorted(functions):
            now, then = functions[name], before["functions"].get(name, {})
            invocations = now["invocations"] - then.get("invocations", 0)
            if not invocations:
                continue
            function_cpu = now["cpuSeconds"] - then.get("cpuSeconds", 0.0)
            calls = {op: n - then.get("calls", {}).get(op, 0) for op, n in now["calls"].items()}
            dynamodb = {op.split(".", 1)[1]: n for op, n in calls.items()
                        if op.startswith("dynamodb") and n}
            calls_total += sum(dynamodb.values())
            shown = ", ".join(f"{op} {n / messages:.2f}" for op, n in sorted(dynamodb.items()))
            print(f"      {name:22} {invocations / messages:5.2f} invocations,"
                  f" {per_message_ms(function_cpu)} ms CPU, DynamoDB calls: {shown or '-'}")
        sends = functions.get("message", {}).get("calls", {})
        transactions = sends.get("dynamodb.TransactWriteItems", 0) - before["functions"].get(
            "message", {}).get("calls", {}).get("dynamodb.TransactWriteItems", 0)
        if transactions:  # every cancelled attempt is one more transaction than messages
            print(f"    revision conflicts per message: {transactions / messages - 1:.3f}"
                  f" (sendMessage transactions {transactions} for {messages} messages)")
        calls_total += reads
        print(f"    per message: {calls_total / messages:.2f} DynamoDB calls"
              f" ({reads / messages:.2f} of them the pollers' GetRecords),"
              f" {post_count / messages:.1f} posts;"
              f" database CPU per call {database / max(calls_total, 1) * 1000:.2f} ms")
        operations = after.get("operations") or {}
        if operations:
            in_moto, parts = 0.0, []
            for op in sorted(operations, key=lambda o: -operations[o]["cpuSeconds"]):
                then = before.get("operations", {}).get(op, {"calls": 0, "cpuSeconds": 0.0})
                calls = operations[op]["calls"] - then["calls"]
                spent = operations[op]["cpuSeconds"] - then["cpuSeconds"]
                if calls:
                    in_moto += spent
                    parts.append(f"{op} {calls / messages:.2f} x {spent / calls * 1000:.2f} ms")
            print(f"    database, per message: {'; '.join(parts)}"
                  f" (calls x moto's CPU per call); moto {per_message_ms(in_moto)} ms,"
                  f" HTTP and the rest {per_message_ms(database - in_moto)} ms")


# -- where a message's time goes (--stages) ------------------------------------------------

# The server's stages (chatapp/stages.py) between the client's send and the last client's receive.
STAGE_CHAIN = (
    ("send", "received", "client → gateway"),
    ("received", "handlerStart", "wait for an instance"),
    ("handlerStart", "committed", "sendMessage (its commit last)"),
    ("committed", "read", "commit → poller's GetRecords"),
    ("read", "batchQueued", "poller → invoke"),
    ("batchQueued", "batchStart", "batch waits for an instance"),
    ("batchStart", "firstPost", "fan-out: Query, first post"),
    ("firstPost", "lastPost", "fan-out: the room's posts"),
    ("lastPost", "lastWrite", "gateway writes the last copy"),
    ("lastWrite", "receive", "socket → last client"),
    ("send", "receive", "total (to the last client)"),
)


def stage_url(base_url: str) -> str:
    return base_url + "/_local/stages"


def start_stages(base_url: str) -> None:
    urllib.request.urlopen(urllib.request.Request(stage_url(base_url), method="POST"), timeout=30)


def print_stages(base_url: str, run: Run) -> None:
    """Medians and p99 of each stage over the messages seen at every stage."""
    with urllib.request.urlopen(stage_url(base_url), timeout=60) as answer:
        traced = json.load(answer)["messages"]
    spans: dict[str, list[float]] = {label: [] for _, _, label in STAGE_CHAIN}
    complete = 0
    for key, stages in traced.items():
        if key not in run.sent_at or key not in run.last_received:
            continue
        stages = {**stages, "send": run.sent_at[key], "receive": run.last_received[key]}
        if not all(a in stages and b in stages for a, b, _ in STAGE_CHAIN):
            continue
        complete += 1
        for a, b, label in STAGE_CHAIN:
            spans[label].append(stages[b] - stages[a])
    print(f"    stages of {complete} messages (ms; one clock for all processes):"
          f" {'p50':>7} {'p99':>7}")
    for _, _, label in STAGE_CHAIN:
        values = spans[label]
        print(f"      {label:38} {percentile(values, 50) * 1000:7.1f}"
              f" {percentile(values, 99) * 1000:7.1f}")
    print_slowest(traced, run)


def print_slowest(traced: dict, run: Run, count: int = 6) -> None:
    """The slowest messages, in the order sent, with the stages that took their time."""
    order = sorted(run.sent_at, key=run.sent_at.get)
    position = {key: n for n, key in enumerate(order)}
    slowest = sorted(
        (key for key in traced if key in run.last_received),
        key=lambda key: run.last_received[key] - run.sent_at[key],
    )[-count:]
    print(f"    the {len(slowest)} slowest (n-th sent: total, then the stages over 10 ms):")
    for key in sorted(slowest, key=position.get):
        stages = {**traced[key], "send": run.sent_at[key], "receive": run.last_received[key]}
        parts = [
            f"{label} {(stages[b] - stages[a]) * 1000:.0f}"
            for a, b, label in STAGE_CHAIN[:-1]
            if a in stages and b in stages and stages[b] - stages[a] > 0.010
        ]
        total = (stages["receive"] - stages["send"]) * 1000
        print(f"      #{position[key]:<4} {total:6.0f} ms: {'; '.join(parts)}")


# -- the bare broadcast server (the machine's limit) ------------------------------------


async def broadcast_server(port: int) -> None:
    from websockets.asyncio.server import broadcast, serve

    clients: set = set()
    counter = 0

    async def handler(ws) -> None:
        nonlocal counter
        clients.add(ws)
        try:
            async for raw in ws:
                frame = json.loads(raw)
                counter += 1
                message = {
                    "id": str(counter),
                    "text": frame.get("text"),
                    "clientId": frame.get("clientId"),
                }
                broadcast(clients, json.dumps({"type": "message", "message": message}))
        finally:
            clients.discard(ws)

    async with serve(handler, "127.0.0.1", port, max_size=None):
        print("ready", flush=True)
        await asyncio.Future()


def start_baseline() -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, __file__, "--baseline-server", str(port)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    return process, f"ws://127.0.0.1:{port}"


# -- main ----------------------------------------------------------------------------------


def scenarios(args: argparse.Namespace) -> list[argparse.Namespace]:
    if not args.preset:
        return [args]
    throughput = argparse.Namespace(
        **{**vars(args), "rate": 0.0, "label": "as fast as the window allows"}
    )
    paced = argparse.Namespace(**{**vars(args), "rate": 50.0, "label": "paced at 50 messages/s"})
    return [throughput, paced]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--senders", type=int, default=5)
    parser.add_argument("--messages", type=int, default=200, help="per sender")
    parser.add_argument("--window", type=int, default=20, help="own messages in flight per sender")
    parser.add_argument("--rate", type=float, help="messages/s over all senders (0: unpaced)")
    parser.add_argument("--url", help="an already running chatapp serve (http://HOST:PORT)")
    parser.add_argument(
        "--instances", default="1,default",
        help="comma-separated `chatapp serve --instances` settings, each its own server"
        " ('default': the CPU count, at least 2)",
    )
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--stages", action="store_true",
                        help="also print where each message's time went, stage by stage")
    parser.add_argument("--baseline-server", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.baseline_server:
        asyncio.run(broadcast_server(args.baseline_server))
        return
    args.preset = args.rate is None
    args.label = f"rate {args.rate}/s" if args.rate else "unpaced"
    if args.senders > args.clients:
        parser.error("--senders cannot exceed --clients")

    baseline = None if args.no_baseline else start_baseline()
    try:
        settings = [None] if args.url else [
            None if value == "default" else int(value) for value in args.instances.split(",")
        ]
        for instances in settings:
            measure(args, instances, baseline)
    finally:
        if baseline is not None:
            baseline[0].terminate()
            baseline[0].wait()


def measure(args: argparse.Namespace, instances: int | None, baseline) -> None:
    """The scenarios against one server (started here with `--instances`, or --url)."""
    server: LocalServer | None = None
    if args.url:
        base = args.url.rstrip("/")
    else:
        extra = ("--instances", str(instances)) if instances is not None else ()
        server = start_local_server(
            Path(tempfile.mkdtemp(prefix="chatapp-load-")), "--rate-limit", "0", *extra
        )
        base = server.url
    api_url, ws_base = base + "/api", base.replace("http", "ws", 1) + "/ws"
    meter = Meter(base)
    try:
        stamp = int(time.time())
        tokens = [
            signup(api_url, username=f"load{stamp % 100000}-{i}", password="bench-password")[1]
            for i in range(args.clients)
        ]
        count = len(meter.sample()["instances"])
        print(
            f"{args.clients} clients in one room, {args.senders} senders"
            f" x {args.messages} messages, window {args.window};"
            f" chatapp serve with {count} instance(s)"
            f"{' (its default)' if instances is None and not args.url else ''}"
        )
        for number, scenario in enumerate(scenarios(args)):
            print(f"- {scenario.label}:")
            room = f"load-{stamp}-{number}"
            urls = [connect_url(ws_base, token, room) for token in tokens]
            before = meter.sample()
            if args.stages:
                start_stages(base)
            run = asyncio.run(run_load("chatapp", urls, scenario))
            report(run, scenario)
            time.sleep(1.0)  # the last $disconnects are done
            Meter.print_stages(before, meter.sample(), args.senders * args.messages)
            if args.stages:
                print_stages(base, run)
            if baseline is not None:
                report(
                    asyncio.run(run_load("baseline", [baseline[1]] * args.clients, scenario)),
                    scenario,
                )
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
