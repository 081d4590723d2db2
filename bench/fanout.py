"""Fan-out: wall time, CPU per post and posts per batch, rooms of 100, 1,000 and 10,000.

The real handlers run through chalice.test.Client against moto's in-process
DynamoDB: sendMessage (the `message` Lambda) stores a message, the records
moto's stream produced go to `on_new_messages`, and every PostToConnection is
a real signed HTTP request to a stub in another process (bench/aws_stub.py:
chatapp's Management API code, signature checked) that answers after 20 ms,
API Gateway's round trip.

Split deliveries: for a room above BIG_ROOM_CONNECTIONS the stream handler's
asynchronous Invokes are recorded by the stub (answered 202, as Lambda does);
the benchmark then runs each page through the `deliver_to_connections` Lambda,
one after the other, timing each. On AWS the pages run at once, each in its own
function with its own pool, so the room's wall time is the stream handler's
own time plus the slowest page (the Invoke's own start-up, ~20-50 ms, is not
counted). moto's time (it answers DynamoDB in this process, in pure Python) is
measured by a botocore hook and left out of wall time and CPU.

Printed: per room, wall time and CPU ms per post beside the targets; posts for
a 50-message stream batch into a 100-connection room; the same run's baseline,
boto3's post_to_connection to the same stub. The last line is one JSON object.

The throttled run (`--throttled-room 10000`, account rate `--account-rate
10000 --account-burst 5000`): a second stub answers 429 beyond the account's
rate (chatapp's AccountRate), the pages run at once (threads here, as ~20
functions would on AWS; they share this process's pool and adaptive rate,
where each function has its own), hand-backs are run as they come until none
is left; printed beside the unthrottled room of the same size: wall time, posts
that went through (every connection exactly once when posts equal the room),
429s seen and connections closed (target 0).

    .venv/bin/python bench/fanout.py [--sizes 100,1000,10000] [--repeat 3] [--latency 0.02]
        [--throttled-room 10000 --account-rate 10000 --account-burst 5000]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import _common
from _common import CallCounter, CallTimer, median, moto_tables, print_table

TARGET_CPU_MS_PER_POST = 0.4
TARGET_WALL = {1000: 0.25, 10000: 1.5}
TARGET_BATCH_POSTS = 100
BATCH_MESSAGES, BATCH_ROOM = 50, 100


def register_connections(dynamodb: Any, room: str, count: int) -> list[str]:
    """Put `count` connection items in a room (BatchWriteItem, 25 at a time)."""
    from chalicelib import settings

    table = settings.get().connections_table
    now = int(time.time())
    ids = [f"{room}-conn-{n:05d}=" for n in range(count)]
    for start in range(0, count, 25):
        requests = [
            {
                "PutRequest": {
                    "Item": {
                        "connection_id": {"S": cid},
                        "username": {"S": f"{room}-user{n + start}"},
                        "username_key": {"S": f"{room}-user{n + start}"},
                        "room": {"S": room},
                        "connected_at": {"N": str(now)},
                        "token_exp": {"N": str(now + 43200)},
                        "ttl": {"N": str(now + 7800)},
                    }
                }
            }
            for n, cid in enumerate(ids[start : start + 25])
        ]
        pending: dict[str, Any] = {table: requests}
        while pending:
            pending = dynamodb.batch_write_item(RequestItems=pending).get("UnprocessedItems")
    return ids


class StreamReader:
    """The messages table's stream from its start, as Lambda-shaped events."""

    def __init__(self, dynamodb: Any) -> None:
        import boto3

        from chalicelib import settings

        self.streams = boto3.client("dynamodbstreams")
        table = dynamodb.describe_table(TableName=settings.get().messages_table)["Table"]
        self.arn = table["LatestStreamArn"]
        shard = self.streams.describe_stream(StreamArn=self.arn)["StreamDescription"]["Shards"][0]
        self.iterator = self.streams.get_shard_iterator(
            StreamArn=self.arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]

    def event(self) -> dict[str, Any]:
        from chatapp.streams import lambda_record

        response = self.streams.get_records(ShardIterator=self.iterator)
        self.iterator = response["NextShardIterator"]
        return {"Records": [lambda_record(r, self.arn, "us-east-1") for r in response["Records"]]}


class Measure:
    """Wall time and process CPU of a block, less moto's share (it answers in this process)."""

    def __init__(self, wall_timer: CallTimer, cpu_timer: CallTimer) -> None:
        self.wall_timer, self.cpu_timer = wall_timer, cpu_timer

    def __enter__(self) -> Measure:
        self.wall_timer.take()
        self.cpu_timer.take()
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.moto = self.wall_timer.take()
        self.wall = time.perf_counter() - self.wall - self.moto
        self.cpu = time.process_time() - self.cpu - self.cpu_timer.take()


def run(
    sizes: list[int], repeat: int, latency: float, throttled: tuple[int, float, float] | None
) -> dict[str, Any]:
    from aws_stub import AwsStub
    from chalice.test import Client

    from chalicelib import settings, store
    from chalicelib.connections_api import ENDPOINT_ENV
    from tests.support import events

    results: dict[str, Any] = {"rooms": {}, "threads": settings.get().fanout_threads,
                               "big_room": settings.get().big_room_connections}
    with moto_tables() as dynamodb, tempfile.TemporaryDirectory() as project_dir:
        stub = AwsStub(latency)  # started inside the mock: it accepts moto's credentials
        os.environ[ENDPOINT_ENV] = os.environ["AWS_ENDPOINT_URL_LAMBDA"] = stub.endpoint
        try:
            import app as chat_app  # after moto (moto_tables): its session must be mocked

            all_sizes = sorted({*sizes, BATCH_ROOM})
            rooms = {size: register_connections(dynamodb, f"room{size}", size)
                     for size in all_sizes}
            counter, timer, cpu_timer = CallCounter(), CallTimer(), CallTimer(time.thread_time)
            for hook in (counter, timer, cpu_timer):
                hook.attach(store.client().meta.events)
            stream = StreamReader(dynamodb)
            senders = iter(range(10**9))

            with Client(chat_app.app, project_dir=project_dir) as client:

                def say(size: int, count: int = 1) -> dict[str, Any]:
                    for _ in range(count):  # a different sender each time: no rate limit
                        sender = rooms[size][next(senders) % size]
                        body = '{"action": "sendMessage", "text": "benchmark message"}'
                        client.lambda_.invoke(
                            "message", events.ws_event("$default", sender, body=body)
                        )
                    event = stream.event()
                    assert len(event["Records"]) == count, len(event["Records"])
                    counter.take()
                    return event

                def deliver(event: dict[str, Any]) -> dict[str, Any]:
                    posts = stub.posts()
                    with Measure(timer, cpu_timer) as handler:
                        payload = client.lambda_.invoke("on_new_messages", event).payload
                    assert payload == {"batchItemFailures": []}, payload
                    pages = []
                    for page in stub.invocations():
                        with Measure(timer, cpu_timer) as one:
                            client.lambda_.invoke("deliver_to_connections", page)
                        pages.append(one)
                    return {
                        "wall": handler.wall + max((p.wall for p in pages), default=0.0),
                        "cpu": handler.cpu + sum(p.cpu for p in pages),
                        "moto": handler.moto + sum(p.moto for p in pages),
                        "pages": len(pages),
                        "posts": stub.posts() - posts,
                        "dynamodb": counter.take(),
                    }

                deliver(say(all_sizes[0]))  # warm-up: clients, pools
                for size in sizes:
                    samples = [deliver(say(size)) for _ in range(repeat)]
                    assert all(s["posts"] == size for s in samples), samples
                    results["rooms"][size] = {
                        "wall": median([s["wall"] for s in samples]),
                        "cpu": median([s["cpu"] for s in samples]),
                        "moto": median([s["moto"] for s in samples]),
                        "pages": samples[-1]["pages"],
                        "posts": size,
                        "dynamodb": samples[-1]["dynamodb"],
                    }
                batch = deliver(say(BATCH_ROOM, BATCH_MESSAGES))
                results["batch_posts"] = batch["posts"]
                results["batch"] = batch
                if throttled is not None:
                    size, rate, burst = throttled
                    if size not in rooms:
                        rooms[size] = register_connections(dynamodb, f"room{size}", size)
                    unthrottled = deliver(say(size))
                    results["throttled"] = {
                        "room": size, "rate": rate, "burst": burst,
                        "unthrottled_wall": unthrottled["wall"],
                        **throttled_delivery(client, say(size), latency, rate, burst,
                                             (timer, cpu_timer)),
                    }
            results["baseline"] = baseline(stub.endpoint, latency, settings.get().fanout_threads)
        finally:
            stub.close()
    return results


def throttled_delivery(
    client: Any,
    event: dict[str, Any],
    latency: float,
    rate: float,
    burst: float,
    timers: tuple[CallTimer, CallTimer],
) -> dict[str, Any]:
    """One message into a room against a stub with the account's rate: what it took.

    Wall time and CPU leave moto's share out, as the unthrottled rooms do.
    """
    from aws_stub import AwsStub

    from chalicelib import lazy, send_rate, store
    from chalicelib.connections_api import ENDPOINT_ENV

    stub = AwsStub(latency, account_rate=(rate, burst))
    saved = os.environ[ENDPOINT_ENV], os.environ["AWS_ENDPOINT_URL_LAMBDA"]
    os.environ[ENDPOINT_ENV] = os.environ["AWS_ENDPOINT_URL_LAMBDA"] = stub.endpoint
    lazy.reset()  # clients for the new endpoints; a fresh rate, starting at the ceiling
    for timer in timers:
        timer.attach(store.client().meta.events)
    try:
        measure = Measure(*timers).__enter__()
        payload = client.lambda_.invoke("on_new_messages", event).payload
        assert payload == {"batchItemFailures": []}, payload
        rounds = 0
        while pages := stub.invocations():  # hand-backs come back as new invocations
            rounds += 1
            with ThreadPoolExecutor(len(pages)) as functions:
                list(functions.map(
                    lambda page: client.lambda_.invoke("deliver_to_connections", page), pages
                ))
        measure.__exit__()
        stats = stub.stats()
        return {"wall": measure.wall, "cpu": measure.cpu, "moto": measure.moto,
                "invocation_rounds": rounds, "rate_after": send_rate.get().rate, **stats}
    finally:
        os.environ[ENDPOINT_ENV], os.environ["AWS_ENDPOINT_URL_LAMBDA"] = saved
        lazy.reset()
        stub.close()


def baseline(endpoint: str, latency: float, threads: int, posts: int = 1000) -> dict[str, float]:
    """CPU ms per post of boto3's client and of the lean one, same stub, same pool, no fan-out."""
    import boto3

    from chalicelib import connections_api

    boto = boto3.client("apigatewaymanagementapi", endpoint_url=endpoint)
    lean = connections_api.client()
    found = {}
    for name, post in (
        ("boto3 post_to_connection", lambda cid: boto.post_to_connection(
            ConnectionId=cid, Data=b'{"type":"pong"}')),
        ("lean sender", lambda cid: lean.post(cid, b'{"type":"pong"}')),
    ):
        post("warm-up=")
        with ThreadPoolExecutor(threads) as pool:
            cpu, wall = time.process_time(), time.perf_counter()
            list(pool.map(post, (f"base-{n}=" for n in range(posts))))
            found[name] = (time.process_time() - cpu) / posts * 1000
            found[name + " wall"] = time.perf_counter() - wall
    return found


def report(results: dict[str, Any], sizes: list[int], latency: float) -> dict[str, Any]:
    load = os.getloadavg()[0]
    print(f"\nmachine: {os.cpu_count()} cores, load average {load:.1f} at the end "
          f"(wall times grow with the load; CPU much less); pool {results['threads']} threads; "
          f"rooms above {results['big_room']} split into pages")
    rows = []
    total_cpu = total_posts = 0.0
    for size in sizes:
        room = results["rooms"][size]
        per_post = room["cpu"] / room["posts"] * 1000
        total_cpu += room["cpu"]
        total_posts += room["posts"]
        rows.append([size, room["pages"] or "-", room["wall"], TARGET_WALL.get(size, ""),
                     per_post, TARGET_CPU_MS_PER_POST, room["moto"],
                     ", ".join(f"{k} {v}" for k, v in sorted(room["dynamodb"].items()))])
    print_table(
        f"One message into a room: wall time (s, moto's time left out) and CPU per post "
        f"(each post a signed HTTP request answered after {latency * 1000:.0f} ms)",
        ["room", "pages", "wall", "target", "CPU ms/post", "target", "moto s (left out)",
         "DynamoDB calls"],
        rows,
    )
    cpu_ms_per_post = total_cpu / total_posts * 1000
    base = results["baseline"]
    print_table(
        "Sender alone, same run, same stub: 1,000 posts on the pool (CPU ms per post)",
        ["client", "CPU ms/post", "wall s"],
        [[name, base[name], base[name + " wall"]]
         for name in ("boto3 post_to_connection", "lean sender")],
    )
    if "throttled" in results:
        t = results["throttled"]
        print_table(
            f"One message into a {t['room']}-connection room with the account's rate at "
            f"{t['rate']:.0f}/s, burst {t['burst']:.0f} (pages at once, hand-backs as they come)",
            ["run", "wall s (moto left out)", "posts", "429s", "closed", "invocation rounds"],
            [["unthrottled (same run)", t["unthrottled_wall"], t["room"], 0, 0, 1],
             ["throttled", t["wall"], t["posts"], t["throttled"], t["deleted"],
              t["invocation_rounds"]]],
        )
    print(f"\n{BATCH_MESSAGES} messages in one stream batch into a {BATCH_ROOM}-connection room: "
          f"{results['batch_posts']} posts (target <= {TARGET_BATCH_POSTS}; one post per message "
          f"per connection would be {BATCH_MESSAGES * BATCH_ROOM})")
    summary = {
        **({"throttled": {k: round(v, 3) if isinstance(v, float) else v
                          for k, v in results["throttled"].items()}}
           if "throttled" in results else {}),
        "cpu_ms_per_post": round(cpu_ms_per_post, 3),
        "wall_s": {str(size): round(results["rooms"][size]["wall"], 3) for size in sizes},
        "posts_batch_50x100": results["batch_posts"],
    }
    verdicts = [f"CPU per post {cpu_ms_per_post:.3f} ms "
                f"{'met' if cpu_ms_per_post <= TARGET_CPU_MS_PER_POST else 'MISSED'}"]
    for size, target in TARGET_WALL.items():
        if size in results["rooms"]:
            wall = results["rooms"][size]["wall"]
            verdicts.append(f"{size}: {wall:.3f} s {'met' if wall <= target else 'MISSED'}")
    verdicts.append(f"batch {results['batch_posts']} posts "
                    f"{'met' if results['batch_posts'] <= TARGET_BATCH_POSTS else 'MISSED'}")
    print("targets: " + "; ".join(verdicts))
    _common.RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    saved = {**summary, "load_average": load, "latency_s": latency,
             "rooms": {str(k): v for k, v in results["rooms"].items()},
             "baseline": results["baseline"]}
    (_common.RESULTS_DIR / "fanout.json").write_text(json.dumps(saved, indent=1))
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--repeat", type=int, default=3, help="runs per size (median)")
    parser.add_argument("--latency", type=float, default=0.020, help="seconds per post")
    parser.add_argument("--throttled-room", type=int, default=0,
                        help="also deliver into a room this big under the account's rate")
    parser.add_argument("--account-rate", type=float, default=10000)
    parser.add_argument("--account-burst", type=float, default=5000)
    args = parser.parse_args()
    sizes = sorted(int(size) for size in args.sizes.split(","))
    throttled = ((args.throttled_room, args.account_rate, args.account_burst)
                 if args.throttled_room else None)
    results = run(sizes, args.repeat, args.latency, throttled)
    summary = report(results, sizes, args.latency)
    print(json.dumps(summary))


if __name__ == "__main__":
    threading.stack_size(1024 * 1024)
    main()
