"""Benchmark: a week of sampled serverless traces in the sandbox X-Ray backend; times the queries.

Usage: .venv/bin/python benchmarks/xray_queries.py [TRACES]   (default 100,000 traces)
"""

import random
import resource
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import time
from datetime import UTC, datetime

from sandbox.endpoint.context import RequestContext
from sandbox.endpoint.xray import XRayBackend

TRACES = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
WEEK = 7 * 86400
T0 = 1_800_000_000.0
rng = random.Random(7)


def hx(n):
    return f"{n:016x}"


def at(t):
    return datetime.fromtimestamp(t, UTC)


def trace_docs(i, t):
    tid = f"1-{int(t):08x}-{i:024x}"

    def s(k):
        return hx(i * 16 + k)

    def st():
        return rng.choices([200, 400, 429, 500], [90, 4, 4, 2])[0]

    def fl(code):
        d = {"http": {"response": {"status": code}}}
        if code >= 500:
            d["fault"] = True
        elif code == 429:
            d.update(throttle=True, error=True)
        elif code >= 400:
            d["error"] = True
        return d

    fn = ["checkout", "orders", "payments", "shipping"][i % 4]
    ddb = [
        {
            "id": s(5 + k),
            "name": "dynamodb",
            "start_time": t + 0.02 + 0.01 * k,
            "end_time": t + 0.03 + 0.01 * k,
            "namespace": "aws",
            "aws": {"operation": "PutItem", "table_name": fn + "-table", "region": "eu-west-1"},
            "type": "subsegment",
            "trace_id": tid,
            "parent_id": s(3),
            **fl(st()),
        }
        for k in range(2)
    ]
    sqs = {
        "id": s(8),
        "name": "sqs",
        "start_time": t + 0.06,
        "end_time": t + 0.07,
        "namespace": "aws",
        "aws": {"operation": "SendMessage", "queue_url": "https://sqs/q-" + fn},
        **fl(st()),
    }
    return [
        {
            "id": s(1),
            "name": "api",
            "trace_id": tid,
            "start_time": t,
            "end_time": t + 0.12,
            "origin": "AWS::ApiGateway::Stage",
            "http": {
                "request": {"url": f"https://api.example.com/{fn}", "method": "POST"},
                "response": {"status": 200},
            },
            "subsegments": [
                {
                    "id": s(2),
                    "name": fn,
                    "start_time": t + 0.001,
                    "end_time": t + 0.11,
                    "namespace": "aws",
                    "aws": {"operation": "Invoke", "function_name": fn},
                }
            ],
        },
        {
            "id": s(3),
            "name": fn,
            "trace_id": tid,
            "parent_id": s(2),
            "start_time": t + 0.01,
            "end_time": t + 0.1,
            "origin": "AWS::Lambda",
            "annotations": {"tenant": f"t{i % 50}"},
        },
        {
            "id": s(4),
            "name": fn,
            "trace_id": tid,
            "parent_id": s(3),
            "start_time": t + 0.015,
            "end_time": t + 0.095,
            "origin": "AWS::Lambda::Function",
            "subsegments": [*ddb, sqs],
        },
    ]


b = XRayBackend("123456789012", "eu-west-1")
started = time.perf_counter()
batch, stored = [], 0
for i in range(TRACES):
    batch += trace_docs(i, T0 + WEEK * i / TRACES)
    if len(batch) >= 3000:
        stored += b.add_segment_documents(batch)
        batch = []
stored += b.add_segment_documents(batch)
load = time.perf_counter() - started
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(
    f"{TRACES} traces, {stored} segment documents over 7 days: backfill {load:.1f}s "
    f"({stored / load:,.0f} docs/s), max RSS {rss:.0f} MB"
)

ctx = RequestContext("123456789012", "eu-west-1", at(T0 + WEEK))


def timed(label, fn, repeat=3):
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        r = fn()
        out.append(time.perf_counter() - t)
    print(f"{label}: cold {out[0] * 1000:.0f} ms, warm {min(out[1:]) * 1000:.0f} ms")
    return r


mid = T0 + 3.5 * 86400
for hours in (1, 6, 24):
    r = timed(
        f"GetServiceGraph {hours:>2} h",
        lambda hours=hours: b.get_service_graph(
            {"StartTime": at(mid + 7200 * hours), "EndTime": at(mid + 7200 * hours + 3600 * hours)},
            ctx,
        ),
    )
print("  services:", len(r["Services"]), "edges:", sum(len(s["Edges"]) for s in r["Services"]))
r = timed(
    'GetTraceSummaries 1 h, filter service("dynamodb") { throttle }, first page',
    lambda: b.get_trace_summaries(
        {
            "StartTime": at(mid - 3600),
            "EndTime": at(mid),
            "FilterExpression": 'service("dynamodb") { throttle }',
        },
        ctx,
    ),
)
print("  processed:", r["TracesProcessedCount"], "page:", len(r["TraceSummaries"]))
r = timed(
    "GetTimeSeriesServiceStatistics 24 h edge, Period 60",
    lambda: b.get_time_series_service_statistics(
        {
            "StartTime": at(mid - 86400),
            "EndTime": at(mid),
            "EntitySelectorExpression": 'edge("checkout", "dynamodb")',
        },
        ctx,
    ),
)
print("  buckets:", len(r["TimeSeriesServiceStatistics"]))
