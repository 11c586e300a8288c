"""Benchmark: reading a week of 1-minute data for 500 series from the sandbox endpoint.

The endpoint holds 500 series (7 days x 1,440 one-minute datapoints, 10 raw values each so
percentiles are real). One GetMetricData call carries all 500 queries (Sum / Average / p99 in
rotation, the 500-query floor) over the 7 days; its 5,040,000 datapoints come back in pages of
100,800 (AWS's default MaxDatapoints). For each wire protocol botocore can use for CloudWatch the
benchmark reports, per page:

- server time: decode + compute + encode inside the endpoint (its ``Server-Timing`` header);
- end-to-end time: the boto3 call as a user sees it;
- botocore parse time: ``botocore.parsers`` on the same response body, measured alone.

And PutMetricData throughput over HTTP (1,000 MetricData items of 150 values per call).
Timings are medians over the pages read. Usage:

    .venv/bin/python benchmarks/endpoint_getmetricdata.py [--pages N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from botocore.parsers import create_parser

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sandbox.endpoint import Endpoint
from sandbox.endpoint.cloudwatch.metric_store import RawValues
from sandbox.endpoint.testing import sandbox_client

SERIES = 500
RAW_PER_POINT = 10
ACCOUNT = "123456789012"
REGION = "us-east-1"


def fill(endpoint: Endpoint, end: datetime) -> float:
    store = endpoint.services.metrics.get(ACCOUNT, REGION).store
    stop = int(end.timestamp())
    stamps = np.arange(stop - 7 * 86_400, stop, 60, dtype=np.int64)
    rng = np.random.default_rng(1)
    offsets = np.arange(0, stamps.size * RAW_PER_POINT + 1, RAW_PER_POINT, dtype=np.int64)
    started = time.perf_counter()
    for n in range(SERIES):
        values = rng.gamma(2.0, 50.0, size=stamps.size * RAW_PER_POINT)
        grid = values.reshape(stamps.size, RAW_PER_POINT)
        store.put_aggregates(
            "Bench",
            "Duration",
            {"FunctionName": f"fn{n}"},
            "Milliseconds",
            stamps,
            grid.sum(1),
            np.full(stamps.size, float(RAW_PER_POINT)),
            grid.min(1),
            grid.max(1),
            RawValues(offsets, values),
        )
    store.compact()
    return time.perf_counter() - started


def queries() -> list[dict]:
    stats = ["Sum", "Average", "p99"]
    return [
        {
            "Id": f"q{n}",
            "MetricStat": {
                "Metric": {
                    "Namespace": "Bench",
                    "MetricName": "Duration",
                    "Dimensions": [{"Name": "FunctionName", "Value": f"fn{n}"}],
                },
                "Period": 60,
                "Stat": stats[n % 3],
            },
        }
        for n in range(SERIES)
    ]


def read_pages(url: str, protocol: str, end: datetime, pages: int) -> dict[str, float]:
    client = sandbox_client(url, "cloudwatch", protocol=protocol)
    operation = client.meta.service_model.operation_model("GetMetricData")
    parser = create_parser(protocol)
    captured: dict[str, object] = {}

    def keep_raw(response_dict: dict, **_: object) -> None:
        captured["response"] = response_dict

    client.meta.events.register("before-parse.monitoring.GetMetricData", keep_raw)
    server, total, parse, points = [], [], [], 0
    token = None
    for _ in range(pages):
        request = {
            "MetricDataQueries": queries(),
            "StartTime": end - timedelta(days=7),
            "EndTime": end,
        }
        if token:
            request["NextToken"] = token
        started = time.perf_counter()
        result = client.get_metric_data(**request)
        total.append(time.perf_counter() - started)
        timing = result["ResponseMetadata"]["HTTPHeaders"]["server-timing"]
        server.append(float(timing.split("dur=")[1]) / 1000)
        raw = captured["response"]
        started = time.perf_counter()
        parser.parse(raw, operation.output_shape)
        parse.append(time.perf_counter() - started)
        points += sum(len(r["Values"]) for r in result["MetricDataResults"])
        token = result.get("NextToken")
        if not token:
            break
    return {
        "pages": len(total),
        "points_per_page": points / len(total),
        "server_s": statistics.median(server),
        "end_to_end_s": statistics.median(total),
        "parse_s": statistics.median(parse),
        "body_mb": len(captured["response"]["body"]) / 1e6,
    }


def put_throughput(url: str, end: datetime, calls: int = 20) -> float:
    client = sandbox_client(url, "cloudwatch")
    rng = np.random.default_rng(2)
    started = time.perf_counter()
    for call in range(calls):
        stamp = end - timedelta(minutes=call)
        data = [
            {
                "MetricName": "Latency",
                "Dimensions": [{"Name": "Route", "Value": f"r{n}"}],
                "Timestamp": stamp,
                "Values": rng.gamma(2.0, 50.0, 150).round(3).tolist(),
                "Unit": "Milliseconds",
            }
            for n in range(1_000)
        ]
        client.put_metric_data(Namespace="Bench/Put", MetricData=data)
    return calls * 1_000 * 150 / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=5, help="pages to read per protocol")
    args = parser.parse_args()
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    with Endpoint() as endpoint:
        fill_s = fill(endpoint, end)
        print(
            f"stored {SERIES} series x 10,080 points x {RAW_PER_POINT} raw values: {fill_s:.1f} s"
        )
        print("protocol            pages  points/page  body MB  server s  end-to-end s  parse s")
        for protocol in ("smithy-rpc-v2-cbor", "json", "query"):
            pages = args.pages if protocol != "query" else 1
            r = read_pages(endpoint.url, protocol, end, pages)
            print(
                f"{protocol:<19} {r['pages']:>5}  {r['points_per_page']:>11,.0f}"
                f"  {r['body_mb']:>7.1f}  {r['server_s']:>8.3f}  {r['end_to_end_s']:>12.3f}"
                f"  {r['parse_s']:>7.3f}"
            )
        rate = put_throughput(endpoint.url, end)
        print(f"PutMetricData over HTTP (json, 1,000 metrics x 150 values a call): {rate:,.0f}/s")


if __name__ == "__main__":
    main()
