"""Benchmark: one collection cycle against a sandbox account scaled to 1,000 functions.

Builds one account (111111111111) in an in-process sandbox endpoint through boto3: an IAM role,
``--functions`` Lambda functions, ``--queues`` SQS queues (half of them sources, each with its
own DLQ through ``RedrivePolicy``), a breaker table with ``--breakers`` items, and 1-minute
CloudWatch data for the last 3 hours (plus 5 minutes ahead, for the second cycle) for every
series the collectors' catalog reads, written through the metric store's back door as AWS
writes its own metrics. Then it writes a stormwatch config (the account through a role, the
breaker table's mapping, ``lookback = "3h"``) and runs ``Collector.once`` twice: the first
cycle backfills 3 hours of every series, the second (5 minutes later) is incremental.

Reported per cycle and source: API calls by operation, the GetMetricData floor
(⌈series ⁄ 500⌉ per period, over the distinct series the cycle stored: every series the
collectors plan has data, so these are the planned queries), wall time, rows; peak RSS
(``ru_maxrss``, the whole process, endpoint included) and the store's size on disk. Usage:

    .venv/bin/python benchmarks/collect_at_scale.py [--functions 1000 --queues 500 --breakers 200]
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from collectors.cloudwatch import CATALOG, MAX_QUERIES_PER_CALL
from collectors.config import load_config
from collectors.cycle import Collector
from collectors.store import Store
from sandbox.endpoint import Endpoint
from sandbox.endpoint.testing import sandbox_client
from sandbox.world.provision import handler_zip

ACCOUNT = "111111111111"
REGION = "us-east-1"
TABLE = "circuit-breakers"
APP_NAMESPACE = "OrderPipeline/Resilience"
WORKERS = 8
AHEAD = timedelta(minutes=5)  # the second cycle runs this much later
TRUST = (
    '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", '
    '"Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}'
)


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def du_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


def build(endpoint: Endpoint, functions: int, queues: int, breakers: int, now: datetime) -> dict:
    """The scaled account, through boto3 (CloudWatch data through the store back door)."""
    timings: dict[str, float] = {}
    clients = {
        s: sandbox_client(endpoint.url, s, account=ACCOUNT)
        for s in ("iam", "lambda", "sqs", "dynamodb")
    }

    started = time.perf_counter()
    role = clients["iam"].create_role(RoleName="scaled-lambda", AssumeRolePolicyDocument=TRUST)
    role_arn = role["Role"]["Arn"]
    package = handler_zip()

    def make_function(i: int) -> None:
        clients["lambda"].create_function(
            FunctionName=f"fn-{i:04d}",
            Runtime="python3.12",
            Role=role_arn,
            Handler="index.handler",
            Code={"ZipFile": package},
            Timeout=30,
            MemorySize=256,
        )

    with ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(make_function, range(functions)))
    timings["lambda"] = time.perf_counter() - started

    started = time.perf_counter()
    sqs = clients["sqs"]
    pairs = queues // 2

    def make_pair(i: int) -> None:
        dlq = sqs.create_queue(QueueName=f"q-{i:04d}-dlq")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        policy = f'{{"deadLetterTargetArn": "{arn}", "maxReceiveCount": "5"}}'
        sqs.create_queue(QueueName=f"q-{i:04d}", Attributes={"RedrivePolicy": policy})

    with ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(make_pair, range(pairs)))
    timings["sqs"] = time.perf_counter() - started

    started = time.perf_counter()
    dynamodb = clients["dynamodb"]
    dynamodb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "breaker_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "breaker_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.get_waiter("table_exists").wait(TableName=TABLE)
    states = ("CLOSED", "OPEN", "HALF_OPEN")
    stamp = str(int(now.timestamp()) - 30)
    items = [
        {
            "breaker_id": {"S": f"dep-{i:04d}"},
            "state": {"S": states[i % 3]},
            "failure_count": {"N": str(i % 7)},
            "success_count": {"N": str(i % 11)},
            "last_transition": {"S": (now - timedelta(minutes=i % 90)).isoformat()},
            "updated_at": {"N": stamp},
        }
        for i in range(breakers)
    ]
    for first in range(0, len(items), 25):
        batch = [{"PutRequest": {"Item": item}} for item in items[first : first + 25]]
        unprocessed = {TABLE: batch}
        while unprocessed:
            unprocessed = dynamodb.batch_write_item(RequestItems=unprocessed)["UnprocessedItems"]
    timings["dynamodb"] = time.perf_counter() - started

    started = time.perf_counter()
    store = endpoint.services.metrics.get(ACCOUNT, REGION).store
    end = int((now + AHEAD).timestamp())
    stamps = np.arange(end - 3 * 3600 - int(AHEAD.total_seconds()), end, 60, dtype=np.int64)
    rng = np.random.default_rng(7)
    ones = np.ones(stamps.size)
    series = datapoints = 0

    def put(namespace: str, metric: str, dims: dict[str, str], unit: str, values) -> None:
        nonlocal series, datapoints
        # One sample per datapoint (count 1, min = max = sum): percentiles are defined too.
        store.put_aggregates(namespace, metric, dims, unit, stamps, values, ones, values, values)
        series += 1
        datapoints += stamps.size

    kinds = {spec.kind: spec for spec in CATALOG.kinds}
    for i in range(functions):
        dims = {"FunctionName": f"fn-{i:04d}"}
        invocations = rng.poisson(20, stamps.size).astype(np.float64)
        for spec in kinds["lambda"].metrics:
            if spec.only_if:  # these functions are not invoked asynchronously
                continue
            if spec.metric == "Duration":
                put("AWS/Lambda", spec.metric, dims, "Milliseconds", rng.gamma(2, 40, stamps.size))
            elif spec.metric == "Invocations":
                put("AWS/Lambda", spec.metric, dims, "Count", invocations)
            else:
                put("AWS/Lambda", spec.metric, dims, "Count", rng.poisson(1, stamps.size) * 1.0)
    for i in range(pairs):
        for name in (f"q-{i:04d}", f"q-{i:04d}-dlq"):
            for spec in kinds["sqs"].metrics:
                unit = "Seconds" if "Age" in spec.metric else "Count"
                put("AWS/SQS", spec.metric, {"QueueName": name}, unit, rng.poisson(3, stamps.size))
    for spec in kinds["dynamodb-table"].metrics:
        put("AWS/DynamoDB", spec.metric, {"TableName": TABLE}, "Count", np.zeros(stamps.size))
    for i in range(breakers):
        state = rng.integers(0, 3, stamps.size).astype(np.float64)
        put(APP_NAMESPACE, "CircuitBreakerState", {"Breaker": f"dep-{i:04d}"}, "None", state)
    timings["cloudwatch"] = time.perf_counter() - started
    return {"timings": timings, "series": series, "datapoints": datapoints}


CONFIG = """\
regions = ["{region}"]
store = "{store}"

[[accounts]]
name = "scaled"
account_id = "{account}"
role_arn = "arn:aws:iam::{account}:role/stormwatch-read-only"
regions = ["{region}"]

[[breakers]]
table = "{table}"
account = "scaled"
key_attr = "breaker_id"
state_attr = "state"
failure_attr = "failure_count"
success_attr = "success_count"
transition_attr = "last_transition"
updated_attr = "updated_at"

[intervals]
lookback = "3h"
"""


def floor_of(store: Store) -> tuple[int, int]:
    """(series read, ⌈series ⁄ 500⌉ summed over periods), from the stored ``metrics`` table.

    Every planned series has data here, so the stored distinct series are the planned queries.
    """
    stored = store.read(
        "metrics", columns=["namespace", "metric", "dimensions", "stat", "period_s"]
    )
    distinct = stored[["namespace", "metric", "dimensions", "stat", "period_s"]].drop_duplicates()
    periods = Counter(distinct["period_s"].tolist())
    return len(distinct), sum(math.ceil(n / MAX_QUERIES_PER_CALL) for n in periods.values())


def report_cycle(title: str, report, wall: float, floor: int) -> None:
    calls = report.calls()
    print(f"\n{title}: {wall:.1f} s wall, {calls:,} API calls, peak RSS {rss_mb():,.0f} MB")
    print(f"  {'source':<10} {'wall s':>7} {'rows':>9} {'calls':>6}  calls by operation")
    for run in report.runs:
        seconds = (run.ended - run.started).total_seconds() if run.ended else float("nan")
        ops = ", ".join(f"{op.split(':')[1]} {n}" for op, n in sorted(run.api_calls.items()))
        total = sum(run.api_calls.values())
        error = f"  ERROR {run.error.kind}: {run.error}" if run.error else ""
        print(f"  {run.source:<10} {seconds:>7.1f} {run.rows:>9,} {total:>6}  {ops}{error}")
    gmd = report.calls("cloudwatch:GetMetricData")
    print(f"  GetMetricData: {gmd} calls, floor {floor} ({gmd - floor:+d})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--functions", type=int, default=1000)
    parser.add_argument("--queues", type=int, default=500)
    parser.add_argument("--breakers", type=int, default=200)
    args = parser.parse_args()
    now = datetime.now(UTC).replace(second=0, microsecond=0)

    with Endpoint() as endpoint, tempfile.TemporaryDirectory() as tmp:
        os.environ["AWS_ENDPOINT_URL"] = endpoint.url
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
        started = time.perf_counter()
        built = build(endpoint, args.functions, args.queues, args.breakers, now)
        setup = time.perf_counter() - started
        parts = ", ".join(f"{k} {v:.1f} s" for k, v in built["timings"].items())
        print(
            f"setup: {setup:.1f} s ({parts}); {args.functions:,} functions, {args.queues:,} "
            f"queues, {args.breakers:,} breakers; {built['series']:,} metric series written, "
            f"{built['datapoints']:,} datapoints; peak RSS {rss_mb():,.0f} MB"
        )

        store_dir = Path(tmp) / "store"
        path = Path(tmp) / "stormwatch.toml"
        path.write_text(CONFIG.format(region=REGION, store=store_dir, account=ACCOUNT, table=TABLE))
        config = load_config(path, env={})
        collector = Collector(config, Store(config.store))
        for title, moment in (("cycle 1 (3 h backfill)", now), ("cycle 2 (+5 min)", now + AHEAD)):
            started = time.perf_counter()
            report = collector.once(moment)
            wall = time.perf_counter() - started
            series, floor = floor_of(collector.store)
            report_cycle(title, report, wall, floor)
            print(f"  floor from {series:,} stored series (metric x statistic)")
            print(f"  store on disk: {du_mb(store_dir):,.1f} MB")
        stored = collector.store.read("metrics", columns=["value"])
        print(f"\nstored: {len(stored):,} metric rows")


if __name__ == "__main__":
    main()
