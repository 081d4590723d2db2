"""Fan-out cost: dollars per million messages sent into rooms of 10, 100 and 1,000 connections.

This design (one Query per room per stream batch, one post per connection per
batch, the lean sender) beside the seed's (a Scan of every connection per
record, one boto3 post per message per connection). CPU per post comes from
the last `bench/fanout.py` run (bench/results/fanout.json: the lean sender and
boto3's client, same run, same stub); everything else is arithmetic on list
prices, stated below. The sendMessage write path is the same in both designs
and is not counted.

Prices: AWS list prices for us-east-1, on-demand, x86, as published in 2025
(DynamoDB on-demand after its 2024-11-01 price cut). Check the pricing pages
before relying on them; change PRICES and run again.

    .venv/bin/python bench/cost.py [--batch 1,10]

`--batch`: how many messages of one room arrive in one stream batch (1 in a
quiet room; a busy room's batches carry several, and each connection then
gets one post for all of them).
"""

from __future__ import annotations

import argparse
import json
import math

import _common
from _common import print_table

from chalicelib.settings import LIMITS

PRICES = {
    "lambda_gb_second": 0.0000166667,  # Lambda, x86, per GB-second
    "lambda_request": 0.20 / 1e6,  # Lambda, per request (async Invoke included)
    "websocket_message": 1.00 / 1e6,  # API Gateway WebSocket, per message (32 KB units)
    "read_request_unit": 0.125 / 1e6,  # DynamoDB on-demand, per RRU (4 KB strong, 8 KB eventual)
}
PRICES_AS_OF = "2025 list prices, us-east-1"
ROOMS = (10, 100, 1000)
MEMORY_GB = 1769 / 1024  # on_new_messages and deliver_to_connections (.chalice/config.json)
ROUND_TRIP_S = 0.020  # PostToConnection, as in bench/fanout.py
THREADS = 64  # FANOUT_THREADS
BIG_ROOM = LIMITS.big_room_connections
INDEX_ITEM_BYTES = 100  # a room-index entry read by the Query (keys + connection_id)
TABLE_ITEM_BYTES = 250  # a whole connection item, what a Scan reads
INVOCATION_OVERHEAD_S = 0.010  # the handler's own work per invocation besides posting
SEED_CPU_MS_PER_POST = 1.03  # issue 10's measurement of the seed, used without a fanout.json


def eventual_read_units(items: int, item_bytes: int) -> float:
    """RRUs of an eventually consistent Query or Scan reading `items` items (4 KB, halved)."""
    return max(1, math.ceil(items * item_bytes / 4096)) * 0.5


def duration_s(posts: int, cpu_ms_per_post: float) -> float:
    """Billed seconds of one function posting `posts` times: CPU or round trips, the larger."""
    cpu = posts * cpu_ms_per_post / 1000
    waits = math.ceil(posts / THREADS) * ROUND_TRIP_S
    return INVOCATION_OVERHEAD_S + max(cpu, waits)


def this_design(room: int, batch: int, cpu_ms: float) -> dict[str, float]:
    """Per message: one stream invocation, Query and post per connection shared by `batch`."""
    pages = math.ceil(room / BIG_ROOM) if room > BIG_ROOM else 0
    functions = max(pages, 1)
    posts_per_function = math.ceil(room / functions)
    gb_s = functions * duration_s(posts_per_function, cpu_ms) * MEMORY_GB
    return {
        "lambda_gb_s": gb_s / batch,
        "lambda_requests": (1 + pages) / batch,
        "websocket_messages": room / batch,
        "read_units": eventual_read_units(room, INDEX_ITEM_BYTES) / batch,
    }


def seed_design(room: int, batch: int, cpu_ms: float) -> dict[str, float]:
    """Per message: a Scan of the connections table and one post per connection, every message."""
    return {
        "lambda_gb_s": duration_s(room, cpu_ms) * MEMORY_GB,
        "lambda_requests": 1 / batch,
        "websocket_messages": room,
        "read_units": eventual_read_units(room, TABLE_ITEM_BYTES),
    }


def dollars_per_million(usage: dict[str, float]) -> dict[str, float]:
    parts = {
        "Lambda": usage["lambda_gb_s"] * PRICES["lambda_gb_second"]
        + usage["lambda_requests"] * PRICES["lambda_request"],
        "API Gateway": usage["websocket_messages"] * PRICES["websocket_message"],
        "DynamoDB": usage["read_units"] * PRICES["read_request_unit"],
    }
    return {name: value * 1e6 for name, value in parts.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", default="1,10")
    args = parser.parse_args()
    measured_path = _common.RESULTS_DIR / "fanout.json"
    try:
        measured = json.loads(measured_path.read_text())
        lean_ms = measured["cpu_ms_per_post"]
        seed_ms = measured["baseline"]["boto3 post_to_connection"]
        source = f"{measured_path.name} (load average {measured['load_average']:.1f} then)"
    except FileNotFoundError:
        raise SystemExit("run bench/fanout.py first: CPU per post comes from its results") from None
    print(f"Prices: {PRICES_AS_OF}: " + ", ".join(f"{k} ${v:.10g}" for k, v in PRICES.items()))
    print(f"CPU per post from {source}: this design {lean_ms:.3f} ms, seed (boto3) "
          f"{seed_ms:.3f} ms; {MEMORY_GB * 1024:.0f} MB functions, {THREADS} threads, "
          f"{ROUND_TRIP_S * 1000:.0f} ms per post")
    for batch in (int(b) for b in args.batch.split(",")):
        rows = []
        for room in ROOMS:
            ours = dollars_per_million(this_design(room, batch, lean_ms))
            seeds = dollars_per_million(seed_design(room, batch, seed_ms))
            rows.append([room, *(round(v, 2) for v in ours.values()), round(sum(ours.values()), 2),
                         *(round(v, 2) for v in seeds.values()), round(sum(seeds.values()), 2)])
        print_table(
            f"Dollars per million messages, fan-out only, {batch} message(s) of a room per "
            "stream batch",
            ["room", "Lambda", "API GW", "DynamoDB", "total", "seed Lambda", "seed API GW",
             "seed DynamoDB", "seed total"],
            rows,
        )


if __name__ == "__main__":
    main()
