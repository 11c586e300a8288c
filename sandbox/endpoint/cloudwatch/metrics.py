"""CloudWatch's metric operations: PutMetricData, ListMetrics, GetMetricData, GetMetricStatistics.

Each operation takes the boto3-shaped input dict (timestamps as aware UTC datetimes) and returns
the boto3-shaped output dict; the protocol layer does the wire. Validation and error messages
follow the CloudWatch API reference; where AWS reports several invalid members at once, their
messages are joined with newlines, as AWS does.
https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_Operations.html

GetMetricData returns each result's ``Timestamps`` as an int64 numpy array of epoch seconds and
its ``Values`` as a float64 numpy array (the encoders write those without a Python loop). They
may be read-only, non-contiguous views (a descending scan is a reversed view): never modify
them. Every other output uses plain Python types and aware UTC datetimes.

Time semantics: a query covers ``[StartTime, EndTime)``; StartTime is rounded down as AWS
documents (to the minute within 15 days, to 5 minutes within 63 days, to the hour beyond; to
the period for high-resolution periods); periods start at ``StartTime + k * Period``. "Now" is
always ``ctx.now``, never the wall clock.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from sandbox.endpoint.cloudwatch import metric_math as mm
from sandbox.endpoint.cloudwatch.metric_store import (
    DEFAULT_UNIT,
    MetricStore,
    RawValues,
    SeriesKey,
    canonical_dimensions,
)
from sandbox.endpoint.cloudwatch.statistics import (
    STANDARD_STATISTICS,
    Statistic,
    aggregate,
    parse_statistic,
)
from sandbox.endpoint.errors import (
    AwsError,
    InvalidNextToken,
    InvalidParameterCombination,
    InvalidParameterValue,
    MissingParameter,
    ValidationError,
)

if TYPE_CHECKING:
    from sandbox.endpoint.context import RequestContext

METRIC_OPERATIONS = {
    "PutMetricData": "put_metric_data",
    "ListMetrics": "list_metrics",
    "GetMetricData": "get_metric_data",
    "GetMetricStatistics": "get_metric_statistics",
}

# Limits from the CloudWatch API reference and "CloudWatch service quotas".
MAX_PUT_METRICS = 1000  # MetricData + EntityMetricData metrics per PutMetricData
MAX_VALUES = 150  # Values per MetricDatum
MAX_DIMENSIONS = 30
MAX_LIST_DIMENSIONS = 10  # ListMetrics' DimensionFilters
MAX_QUERIES = 500  # MetricDataQueries per GetMetricData
DEFAULT_MAX_DATAPOINTS = 100_800
MAX_EXPRESSION_LENGTH = 2048
LIST_PAGE_SIZE = 500
MAX_STATISTICS_DATAPOINTS = 1440  # GetMetricStatistics
MAX_STATISTICS = 5
MAX_EXTENDED_STATISTICS = 10
VALUE_LIMIT = 2.0**360  # "Values must be in the range of -2^360 to 2^360"

MINUTE, HOUR, DAY = 60, 3600, 86400
HIGH_RES_PERIODS = (1, 5, 10, 20, 30)

STANDARD_UNITS = frozenset(
    {
        "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes",
        "Gigabytes", "Terabytes", "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits",
        "Percent", "Count", "Bytes/Second", "Kilobytes/Second", "Megabytes/Second",
        "Gigabytes/Second", "Terabytes/Second", "Bits/Second", "Kilobits/Second",
        "Megabits/Second", "Gigabits/Second", "Terabits/Second", "Count/Second", "None",
    }
)  # fmt: skip
_ID_PATTERN = re.compile(r"^[a-z][a-zA-Z0-9_]*$")


# ---------------------------------------------------------------------------- helpers


def _epoch(value: Any, param: str) -> int:
    """A boto3 timestamp (aware datetime; naive means UTC) as int epoch seconds, floored."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        seconds: float = value.timestamp()
        return math.floor(seconds)
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return math.floor(value)
    raise InvalidParameterValue(f"The value {value} for parameter {param} is invalid.")


def _datetime(epoch: int) -> datetime:
    return datetime.fromtimestamp(int(epoch), tz=UTC)


def _java_number(v: float) -> str:
    """A double as AWS prints it in messages (Java's ``NaN``, ``Infinity``)."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Infinity" if v > 0 else "-Infinity"
    return repr(v)


def round_start(start: int, period: int, now: int) -> int:
    """StartTime as CloudWatch rounds it (API reference, GetMetricData ``StartTime``).

    High-resolution periods (under a minute) round down to a multiple of the period; otherwise
    a start less than 15 days ago rounds down to the minute, 15 to 63 days ago to 5 minutes,
    older to the hour.
    """
    if period < MINUTE:
        return start - start % period
    age = now - start
    step = MINUTE if age < 15 * DAY else 5 * MINUTE if age < 63 * DAY else HOUR
    return start - start % step


def period_is_retained(start: int, period: int, now: int) -> bool:
    """AWS: for a StartTime more than 3 hours ago the period must be a multiple of 60 (3 h to
    15 days), 300 (15 to 63 days) or 3600 (older), "or no data points ... is returned"."""
    age = now - start
    if age <= 3 * HOUR:
        return True
    if age <= 15 * DAY:
        return period % MINUTE == 0
    if age <= 63 * DAY:
        return period % 300 == 0
    return period % HOUR == 0


def _valid_period(period: Any) -> bool:
    return (
        isinstance(period, int)
        and not isinstance(period, bool)
        and period > 0
        and (period in HIGH_RES_PERIODS or period % MINUTE == 0)
    )


def _dimensions(
    dims: Any, path: str, errors: list[AwsError], *, require_value: bool = True
) -> tuple[tuple[str, str], ...] | None:
    """Validate a Dimensions list; append problems to ``errors``."""
    if dims is None:
        return ()
    if not isinstance(dims, Sequence) or isinstance(dims, str):
        errors.append(InvalidParameterValue(f"The parameter {path} must be a list."))
        return None
    limit = MAX_DIMENSIONS if require_value else MAX_LIST_DIMENSIONS
    if len(dims) > limit:
        errors.append(
            InvalidParameterValue(
                f"The collection {path} must not have a size greater than {limit}."
            )
        )
        return None
    seen: set[str] = set()
    ok = True
    for j, d in enumerate(dims, 1):
        name = d.get("Name") if isinstance(d, Mapping) else None
        value = d.get("Value") if isinstance(d, Mapping) else None
        if not name:
            errors.append(MissingParameter(f"The parameter {path}.member.{j}.Name is required."))
            ok = False
            continue
        if require_value and (value is None or value == ""):
            errors.append(MissingParameter(f"The parameter {path}.member.{j}.Value is required."))
            ok = False
        if name in seen:
            errors.append(
                InvalidParameterValue(
                    f"The value {name} for parameter {path}.member.{j}.Name is duplicated; "
                    "a metric has at most one value per dimension name."
                )
            )
            ok = False
        seen.add(name)
    if not ok:
        return None
    return canonical_dimensions(dims) if require_value else ()


def _raise_all(errors: list[AwsError]) -> None:
    """AWS reports every invalid member of a request, one per line, under the first code."""
    if errors:
        first = errors[0]
        raise type(first)("\n".join(e.message for e in errors), code=first.code)


def _digest(params: Mapping[str, Any], *, without: str = "NextToken") -> str:
    body = {k: v for k, v in params.items() if k != without}
    text = json.dumps(body, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


# ---------------------------------------------------------------------------- GetMetricData parts


@dataclass(slots=True)
class _Query:
    """One validated MetricDataQuery."""

    index: int  # 1-based position, for messages
    id: str
    label: str | None
    return_data: bool
    period: int | None  # the query's own Period (expressions), or MetricStat.Period
    key: SeriesKey | None = None
    stat: Statistic | None = None
    unit: str | None = None
    expression: str | None = None
    node: mm.Node | None = None

    @property
    def is_metric(self) -> bool:
        return self.key is not None


@dataclass(slots=True)
class _Result:
    id: str
    label: str
    timestamps: np.ndarray  # int64 epoch seconds, ascending
    values: np.ndarray  # float64
    messages: list[dict[str, str]] = field(default_factory=list)


class _Evaluation:
    """Computes the queries of one GetMetricData request, each at most once."""

    def __init__(
        self,
        store: MetricStore,
        queries: list[_Query],
        start: int,
        end: int,
        now: int,
    ) -> None:
        self.store = store
        self.queries = {q.id: q for q in queries}
        self.order = queries
        self.start, self.end, self.now = start, end, now
        self._sparse: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._values: dict[str, tuple[mm.Grid, list[mm.Series], bool]] = {}
        self._periods: dict[str, int] = {}
        metric_periods = [q.period for q in queries if q.is_metric and q.period]
        self._default_period = min(metric_periods) if metric_periods else MINUTE

    def prepare(self) -> None:
        """Compute the expressions that returned queries need, dependencies first, so that no
        evaluation recurses further than one expression (a chain of 500 expressions is fine)."""
        expressions = {q.id: q.node for q in self.order if q.node is not None}
        deps = mm.expression_ids(expressions, [q.id for q in self.order if q.is_metric])
        needed = [q.id for q in self.order if q.return_data and q.node is not None]
        done: set[str] = set()
        for root in needed:
            stack = [(root, False)]
            while stack:  # iterative post-order depth-first walk
                qid, expanded = stack.pop()
                if qid in done or qid not in expressions:
                    continue
                if expanded:
                    done.add(qid)
                    self.period(qid)
                    self.value(qid)
                    continue
                stack.append((qid, True))
                stack.extend((d, False) for d in deps[qid] if d not in done)

    # -- grids

    def period(self, qid: str) -> int:
        """A query's period: MetricStat.Period; an expression's Period, else the smallest period
        of what it references (METRICS() references every metric), else of the request."""
        cached = self._periods.get(qid)
        if cached is not None:
            return cached
        q = self.queries[qid]
        if q.period:
            p = q.period
        else:
            assert q.node is not None
            refs = mm.references(q.node)
            if mm.uses_metrics_function(q.node):
                refs += [m.id for m in self.order if m.is_metric]
            periods = [self.period(r) for r in refs if r in self.queries]
            p = min(periods) if periods else self._default_period
        self._periods[qid] = p
        return p

    def grid(self, qid: str) -> mm.Grid:
        p = self.period(qid)
        return mm.Grid.covering(round_start(self.start, p, self.now), self.end, p)

    # -- metrics

    def sparse(self, q: _Query) -> tuple[np.ndarray, np.ndarray]:
        """A MetricStat query's periods that have a value: (int64 starts, float64 values)."""
        got = self._sparse.get(q.id)
        if got is not None:
            return got
        assert q.key is not None and q.stat is not None and q.period is not None
        empty = (np.zeros(0, np.int64), np.zeros(0))
        series = self.store.get_key(q.key)
        start = round_start(self.start, q.period, self.now)
        if series is None or not period_is_retained(start, q.period, self.now):
            got = empty
        else:
            ts, (values,) = aggregate(series.snapshot(q.unit), start, self.end, q.period, [q.stat])
            present = ~np.isnan(values)
            got = (ts, values) if present.all() else (ts[present], values[present])
        self._sparse[q.id] = got
        return got

    def metric_label(self, q: _Query) -> str:
        # AWS: without a Label, a metric's result is labelled with its metric name
        assert q.key is not None
        return q.label if q.label is not None else q.key.metric_name

    # -- expressions

    def value(self, qid: str) -> tuple[mm.Grid, list[mm.Series], bool]:
        """A query's series on its own grid, and whether it is an array (several series)."""
        got = self._values.get(qid)
        if got is not None:
            return got
        q = self.queries[qid]
        grid = self.grid(qid)
        if q.is_metric:
            ts, vals = self.sparse(q)
            dense = np.full(grid.size, np.nan)
            dense[(ts - grid.start) // grid.period] = vals
            got = (grid, [mm.Series(dense, self.metric_label(q), q.id, grid.period)], False)
        else:
            assert q.node is not None
            env = mm.Environment(
                grid,
                resolve=lambda rid: self._on_grid(rid, grid),
                metrics=lambda: [
                    s
                    for m in self.order
                    if m.is_metric
                    for s in _as_list(self._on_grid(m.id, grid))
                ],
            )
            try:
                value = mm.evaluate(q.node, env)
                series = mm.results(value, grid)
            except mm.MathError as e:
                raise _expression_error(q, str(e)) from None
            is_array = isinstance(value, list)
            for s in series:
                s.period = grid.period
            got = (grid, series, is_array)
        self._values[qid] = got
        return got

    def _on_grid(self, rid: str, grid: mm.Grid) -> mm.Series | list[mm.Series]:
        if rid not in self.queries:
            raise KeyError(rid)
        source, series, is_array = self.value(rid)
        moved = [
            mm.Series(mm.regrid(s.values, source, grid), s.label, s.query_id, s.period)
            for s in series
        ]
        return moved if is_array else moved[0]

    def results(self, q: _Query) -> list[_Result]:
        if q.is_metric:
            ts, vals = self.sparse(q)
            return [_Result(q.id, self.metric_label(q), ts, vals)]
        grid, series, is_array = self.value(q.id)
        if not series:  # an empty array (e.g. METRICS("nothing")): one empty result, not none
            empty = np.zeros(0)
            return [_Result(q.id, q.label or q.id, empty.astype(np.int64), empty)]
        out = []
        stamps = grid.timestamps
        for s in series:
            present = ~np.isnan(s.values)
            label = mm.label_for(q.label, s, is_array, q.id)
            out.append(_Result(q.id, label, stamps[present], s.values[present]))
        return out


def _as_list(v: mm.Series | list[mm.Series]) -> list[mm.Series]:
    return v if isinstance(v, list) else [v]


def _expression_error(q: _Query, problem: str) -> ValidationError:
    return ValidationError(
        f"Error in expression {q.id} (MetricDataQueries.member.{q.index}.Expression "
        f"{q.expression!r}): {problem}."
    )


# ---------------------------------------------------------------------------- the backend


class MetricsBackend:
    """CloudWatch metrics of one account and region: the store and the four operations."""

    def __init__(self, account_id: str, region: str) -> None:
        self.account_id = account_id
        self.region = region
        self.store = MetricStore()
        self._token_key = hashlib.sha256(f"cloudwatch/{account_id}/{region}".encode()).digest()

    # ------------------------------------------------------------------ tokens

    def _token(self, kind: str, digest: str, state: Any) -> str:
        body = json.dumps([kind, digest, state], separators=(",", ":")).encode()
        mac = hmac.new(self._token_key, body, "sha256").digest()[:12]
        return base64.urlsafe_b64encode(mac + body).decode().rstrip("=")

    def _read_token(self, token: Any, kind: str, digest: str) -> Any:
        """The state inside a NextToken we issued for this very request, else InvalidNextToken."""
        try:
            raw = base64.urlsafe_b64decode(str(token) + "=" * (-len(str(token)) % 4))
            mac, body = raw[:12], raw[12:]
            good = hmac.new(self._token_key, body, "sha256").digest()[:12]
            if not hmac.compare_digest(mac, good):
                raise ValueError("bad signature")
            got_kind, got_digest, state = json.loads(body)
        except (ValueError, TypeError, json.JSONDecodeError):
            raise InvalidNextToken(f"The NextToken {token} is invalid.") from None
        if got_kind != kind or got_digest != digest:
            raise InvalidNextToken(
                f"The NextToken {token} is invalid: it was issued for a different request."
            )
        return state

    # ------------------------------------------------------------------ PutMetricData

    def put_metric_data(self, params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        """Store datapoints; every datum is validated before any is stored (all or nothing)."""
        namespace = params.get("Namespace")
        if not namespace:
            raise MissingParameter("The parameter Namespace is required.")
        if namespace.startswith("AWS/") or namespace.startswith(":"):
            # AWS reserves AWS/ namespaces for its services
            raise InvalidParameterValue(
                f"The value {namespace} for parameter Namespace is invalid."
            )
        items: list[tuple[str, Any]] = [
            (f"MetricData.member.{i}", d) for i, d in enumerate(params.get("MetricData") or [], 1)
        ]
        for e, entity in enumerate(params.get("EntityMetricData") or [], 1):
            items += [
                (f"EntityMetricData.member.{e}.MetricData.member.{i}", d)
                for i, d in enumerate(entity.get("MetricData") or [], 1)
            ]
        if not items:
            raise MissingParameter("The parameter MetricData is required.")
        if len(items) > MAX_PUT_METRICS:
            raise InvalidParameterValue(
                f"The collection MetricData must not have a size greater than {MAX_PUT_METRICS}."
            )
        now = _epoch(ctx.now, "now")
        errors: list[AwsError] = []
        groups: dict[tuple[SeriesKey, str, int], list[_Datum]] = {}
        for path, d in items:
            datum = _parse_datum(path, d, namespace, now, errors)
            if datum is not None:
                groups.setdefault((datum.key, datum.unit, datum.resolution), []).append(datum)
        _raise_all(errors)
        for (key, unit, resolution), data in groups.items():
            raw = RawValues.from_lists([d.raw for d in data], [d.weights for d in data])
            self.store.put_aggregates(
                key.namespace,
                key.metric_name,
                key.dimensions,
                unit,
                np.array([d.timestamp for d in data], dtype=np.int64),
                np.array([d.sum for d in data]),
                np.array([d.count for d in data]),
                np.array([d.minimum for d in data]),
                np.array([d.maximum for d in data]),
                raw,
                storage_resolution=resolution,
            )
        return {}

    # ------------------------------------------------------------------ ListMetrics

    def list_metrics(self, params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        """Metrics with a datapoint in the last two weeks (AWS drops older ones), filtered,
        500 per page in a stable order, with an opaque NextToken."""
        namespace = params.get("Namespace")
        metric_name = params.get("MetricName")
        errors: list[AwsError] = []
        _dimensions(params.get("Dimensions"), "Dimensions", errors, require_value=False)
        _raise_all(errors)
        filters = [(d["Name"], d.get("Value")) for d in params.get("Dimensions") or []]
        recently = params.get("RecentlyActive")
        if recently is not None and recently != "PT3H":
            raise InvalidParameterValue(
                f"The value {recently} for parameter RecentlyActive is invalid. Valid values: PT3H."
            )
        now = _epoch(ctx.now, "now")
        # "RecentlyActive: PT3H" = datapoints in the past three hours; otherwise AWS lists
        # metrics that had data in the past two weeks
        floor = now - 3 * HOUR if recently else now - 14 * DAY
        digest = _digest(params)
        cursor: SeriesKey | None = None
        token = params.get("NextToken")
        if token is not None:
            state = self._read_token(token, "ListMetrics", digest)
            try:
                ns, name, dims = state
                cursor = SeriesKey(ns, name, tuple((str(a), str(b)) for a, b in dims))
            except (TypeError, ValueError):
                raise InvalidNextToken(f"The NextToken {token} is invalid.") from None

        def matches(key: SeriesKey) -> bool:
            if namespace is not None and key.namespace != namespace:
                return False
            if metric_name is not None and key.metric_name != metric_name:
                return False
            have = dict(key.dimensions)
            return all(n in have and (v is None or have[n] == v) for n, v in filters)

        keys = sorted(
            s.key
            for s in self.store
            if s.last_timestamp is not None and s.last_timestamp >= floor and matches(s.key)
        )
        if cursor is not None:
            keys = [k for k in keys if k > cursor]
        page = keys[:LIST_PAGE_SIZE]
        out: dict[str, Any] = {
            "Metrics": [
                {
                    "Namespace": k.namespace,
                    "MetricName": k.metric_name,
                    "Dimensions": [{"Name": n, "Value": v} for n, v in k.dimensions],
                }
                for k in page
            ]
        }
        if params.get("IncludeLinkedAccounts"):
            out["OwningAccounts"] = [self.account_id] * len(page)
        if len(keys) > LIST_PAGE_SIZE:
            last = page[-1]
            out["NextToken"] = self._token(
                "ListMetrics", digest, [last.namespace, last.metric_name, last.dimensions]
            )
        return out

    # ------------------------------------------------------------------ GetMetricData

    def get_metric_data(self, params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        """Compute every query, return the ReturnData ones in request order, paged so a page
        holds at most MaxDatapoints datapoints; ``Timestamps``/``Values`` are numpy arrays."""
        raw_queries = params.get("MetricDataQueries")
        if not raw_queries:
            raise MissingParameter("The parameter MetricDataQueries is required.")
        if len(raw_queries) > MAX_QUERIES:
            raise ValidationError(
                f"The collection MetricDataQueries must not have a size greater than {MAX_QUERIES}."
            )
        start, end = self._time_range(params, ValidationError)
        scan_by = params.get("ScanBy") or "TimestampDescending"
        if scan_by not in ("TimestampDescending", "TimestampAscending"):
            raise ValidationError(
                f"The value {scan_by} for parameter ScanBy is invalid. "
                "Valid values: TimestampDescending, TimestampAscending."
            )
        max_points = params.get("MaxDatapoints")
        max_points = DEFAULT_MAX_DATAPOINTS if max_points is None else max_points
        if not isinstance(max_points, int) or isinstance(max_points, bool) or max_points < 1:
            raise ValidationError(
                f"The value {max_points} for parameter MaxDatapoints is invalid; "
                "it must be a positive integer."
            )
        digest = _digest(params)
        offset = 0
        if params.get("NextToken") is not None:
            offset = self._read_token(params["NextToken"], "GetMetricData", digest)
            if not isinstance(offset, int) or offset < 0:
                raise InvalidNextToken(f"The NextToken {params['NextToken']} is invalid.")

        queries = _parse_queries(raw_queries)
        now = _epoch(ctx.now, "now")
        evaluation = _Evaluation(self.store, queries, start, end, now)
        evaluation.prepare()
        results: list[_Result] = []
        for q in queries:
            if q.return_data:
                results.extend(evaluation.results(q))
        descending = scan_by == "TimestampDescending"
        return _page(results, offset, max_points, descending, self, digest)

    def _time_range(self, params: Mapping[str, Any], error: type[AwsError]) -> tuple[int, int]:
        for name in ("StartTime", "EndTime"):
            if params.get(name) is None:
                raise MissingParameter(f"The parameter {name} is required.")
        start = _epoch(params["StartTime"], "StartTime")
        end = _epoch(params["EndTime"], "EndTime")
        if start >= end:
            raise error("The parameter StartTime must be less than the parameter EndTime.")
        return start, end

    # ------------------------------------------------------------------ GetMetricStatistics

    def get_metric_statistics(self, params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        """Statistics per period for one metric; at most 1,440 periods per call (as AWS).

        Datapoints come in ascending time (AWS promises no order). Without ``Unit``, a metric
        published with several units gets one datapoint per unit and period.
        """
        for name in ("Namespace", "MetricName", "StartTime", "EndTime", "Period"):
            if params.get(name) is None:
                raise MissingParameter(f"The parameter {name} is required.")
        namespace, metric_name = params["Namespace"], params["MetricName"]
        errors: list[AwsError] = []
        dims = _dimensions(params.get("Dimensions"), "Dimensions", errors)
        _raise_all(errors)
        assert dims is not None
        statistics = params.get("Statistics") or []
        extended = params.get("ExtendedStatistics") or []
        if not statistics and not extended:
            raise InvalidParameterCombination(
                "Must specify either Statistics or ExtendedStatistics."
            )
        if len(statistics) > MAX_STATISTICS:
            raise InvalidParameterValue(
                f"The collection Statistics must not have a size greater than {MAX_STATISTICS}."
            )
        if len(extended) > MAX_EXTENDED_STATISTICS:
            raise InvalidParameterValue(
                "The collection ExtendedStatistics must not have a size greater than "
                f"{MAX_EXTENDED_STATISTICS}."
            )
        stats: list[Statistic] = []
        for i, name in enumerate(statistics, 1):
            if name not in STANDARD_STATISTICS:
                errors.append(
                    InvalidParameterValue(
                        f"The value {name} for parameter Statistics.member.{i} is invalid. Valid "
                        f"values: {', '.join(STANDARD_STATISTICS)}."
                    )
                )
            else:
                stat = parse_statistic(name)
                assert stat is not None
                stats.append(stat)
        for i, name in enumerate(extended, 1):
            stat = parse_statistic(name) if isinstance(name, str) else None
            if stat is None or not stat.needs_raw:
                errors.append(
                    InvalidParameterValue(
                        f"The value {name} for parameter ExtendedStatistics.member.{i} is not "
                        "a valid extended statistic (e.g. p99, p99.9, tm90, TM(10%:90%))."
                    )
                )
            else:
                stats.append(stat)
        _raise_all(errors)
        period = params["Period"]
        if not _valid_period(period):
            raise InvalidParameterValue(
                f"The parameter Period must be a multiple of 60 (or 1, 5, 10, 20 or 30 for "
                f"high-resolution metrics); {period} is not."
            )
        unit = params.get("Unit")
        if unit is not None and unit not in STANDARD_UNITS:
            raise InvalidParameterValue(f"The value {unit} for parameter Unit is invalid.")
        start, end = self._time_range(params, InvalidParameterValue)
        now = _epoch(ctx.now, "now")
        start = round_start(start, period, now)
        requested = -(-(end - start) // period)
        if requested > MAX_STATISTICS_DATAPOINTS:
            raise InvalidParameterCombination(
                f"You have requested up to {requested} datapoints, which exceeds the limit of "
                f"{MAX_STATISTICS_DATAPOINTS}. You may reduce the datapoints requested by "
                "increasing Period, or decreasing the time range."
            )
        series = self.store.get(namespace, metric_name, dims)
        datapoints: list[tuple[int, str, dict[str, Any]]] = []
        if series is not None and period_is_retained(start, period, now):
            per_unit = (
                {unit: series.snapshot(unit)} if unit is not None else series.unit_snapshots()
            )
            for unit_name, data in per_unit.items():
                ts, columns = aggregate(data, start, end, period, stats)
                datapoints.extend(_statistics_datapoints(ts, stats, columns, unit_name))
        datapoints.sort(key=lambda d: (d[0], d[1]))
        return {"Label": metric_name, "Datapoints": [d for _, _, d in datapoints]}


def _statistics_datapoints(
    ts: np.ndarray, stats: list[Statistic], columns: list[np.ndarray], unit: str
) -> list[tuple[int, str, dict[str, Any]]]:
    out = []
    for k in range(ts.size):
        point: dict[str, Any] = {"Timestamp": _datetime(int(ts[k]))}
        extended: dict[str, float] = {}
        for stat, col in zip(stats, columns, strict=True):
            v = float(col[k])
            if math.isnan(v):
                continue  # e.g. a percentile of a period that has only statistic sets
            if stat.needs_raw:
                extended[stat.name] = v
            else:
                point[stat.name] = v
        if len(point) == 1 and not extended:
            continue
        if extended:
            point["ExtendedStatistics"] = extended
        point["Unit"] = unit
        out.append((int(ts[k]), unit, point))
    return out


# ---------------------------------------------------------------------------- PutMetricData parts


@dataclass(slots=True)
class _Datum:
    key: SeriesKey
    unit: str
    resolution: int
    timestamp: int
    sum: float
    count: float
    minimum: float
    maximum: float
    raw: np.ndarray | None
    weights: np.ndarray | None


def _number_ok(v: Any) -> bool:
    return (
        isinstance(v, int | float)
        and not isinstance(v, bool)
        and math.isfinite(v)
        and abs(v) <= VALUE_LIMIT
    )


def _parse_datum(
    path: str, d: Any, namespace: str, now: int, errors: list[AwsError]
) -> _Datum | None:
    """Validate one MetricDatum; append its problems to ``errors``."""
    n_errors = len(errors)
    if not isinstance(d, Mapping):
        errors.append(InvalidParameterValue(f"The parameter {path} is invalid."))
        return None
    name = d.get("MetricName")
    if not name:
        errors.append(MissingParameter(f"The parameter {path}.MetricName is required."))
    dims = _dimensions(d.get("Dimensions"), f"{path}.Dimensions", errors)
    timestamp = now
    if d.get("Timestamp") is not None:
        timestamp = _epoch(d["Timestamp"], f"{path}.Timestamp")
        # AWS accepts timestamps up to two weeks old and two hours ahead
        if timestamp < now - 14 * DAY:
            errors.append(
                InvalidParameterValue(
                    f"The parameter {path}.Timestamp must specify a time within the past two weeks."
                )
            )
        elif timestamp > now + 2 * HOUR:
            errors.append(
                InvalidParameterValue(
                    f"The parameter {path}.Timestamp must specify a time no more than two hours "
                    "in the future."
                )
            )
    resolution = d.get("StorageResolution")
    resolution = 60 if resolution is None else resolution
    if resolution not in (1, 60) or isinstance(resolution, bool):
        errors.append(
            InvalidParameterValue(
                f"The value {resolution} for parameter {path}.StorageResolution is invalid. "
                "Valid values: 1, 60."
            )
        )
    unit = d.get("Unit") or DEFAULT_UNIT
    if unit not in STANDARD_UNITS:
        errors.append(
            InvalidParameterValue(f"The value {unit} for parameter {path}.Unit is invalid.")
        )

    value, values, stats = d.get("Value"), d.get("Values"), d.get("StatisticValues")
    has_values = values is not None and len(values) > 0
    if value is not None and stats is not None:
        errors.append(
            InvalidParameterCombination(
                f"The parameters {path}.Value and {path}.StatisticValues are mutually exclusive "
                "and you have specified both."
            )
        )
    elif has_values and stats is not None:
        errors.append(
            InvalidParameterCombination(
                f"The parameters {path}.Values and {path}.StatisticValues are mutually "
                "exclusive and you have specified both."
            )
        )
    elif value is not None and has_values:
        errors.append(
            InvalidParameterValue(
                f"The parameters {path}.Value and {path}.Values are mutually exclusive and you "
                "have specified both."
            )
        )
    elif value is None and not has_values and stats is None:
        errors.append(
            MissingParameter(
                f"The parameter {path}.Value is required (or {path}.Values, or "
                f"{path}.StatisticValues)."
            )
        )
    if len(errors) > n_errors:
        return None

    raw: np.ndarray | None = None
    weights: np.ndarray | None = None
    if value is not None:
        if not _number_ok(value):
            errors.append(
                InvalidParameterValue(
                    f"The value {_java_number(float(value))} for parameter {path}.Value is invalid."
                )
            )
            return None
        total, count, lo, hi = float(value), 1.0, float(value), float(value)
        raw, weights = np.array([float(value)]), np.ones(1)
    elif has_values:
        assert values is not None
        counts = d.get("Counts")
        if len(values) > MAX_VALUES:
            errors.append(
                InvalidParameterValue(
                    f"The collection {path}.Values must not have a size greater than {MAX_VALUES}."
                )
            )
            return None
        if counts is not None and len(counts) != len(values):
            errors.append(
                InvalidParameterValue(
                    f"The parameters {path}.Values and {path}.Counts must be of the same size."
                )
            )
            return None
        for j, v in enumerate(values, 1):
            if not _number_ok(v):
                errors.append(
                    InvalidParameterValue(
                        f"The value {_java_number(float(v))} for parameter "
                        f"{path}.Values.member.{j} is invalid."
                    )
                )
        for j, c in enumerate(counts or [], 1):
            if not _number_ok(c) or c < 0:
                errors.append(
                    InvalidParameterValue(
                        f"The value {_java_number(float(c))} for parameter "
                        f"{path}.Counts.member.{j} is invalid."
                    )
                )
        if len(errors) > n_errors:
            return None
        v_arr = np.asarray(values, dtype=np.float64)
        c_arr = np.ones(v_arr.size) if counts is None else np.asarray(counts, dtype=np.float64)
        keep = c_arr > 0  # a value that occurred 0 times is no sample
        v_arr, c_arr = v_arr[keep], c_arr[keep]
        if v_arr.size == 0:
            return None
        total, count = float(v_arr @ c_arr), float(c_arr.sum())
        lo, hi = float(v_arr.min()), float(v_arr.max())
        raw, weights = v_arr, c_arr
    else:
        if not isinstance(stats, Mapping):
            errors.append(
                InvalidParameterValue(f"The parameter {path}.StatisticValues is invalid.")
            )
            return None
        for k in ("SampleCount", "Sum", "Minimum", "Maximum"):
            if stats.get(k) is None:
                errors.append(
                    MissingParameter(f"The parameter {path}.StatisticValues.{k} is required.")
                )
            elif not _number_ok(stats[k]):
                errors.append(
                    InvalidParameterValue(
                        f"The value {_java_number(float(stats[k]))} for parameter "
                        f"{path}.StatisticValues.{k} is invalid."
                    )
                )
        if len(errors) > n_errors:
            return None
        count, total = float(stats["SampleCount"]), float(stats["Sum"])
        lo, hi = float(stats["Minimum"]), float(stats["Maximum"])
        if count <= 0:
            errors.append(
                InvalidParameterValue(
                    f"The value {_java_number(count)} for parameter "
                    f"{path}.StatisticValues.SampleCount is invalid; it must be greater than 0."
                )
            )
        if lo > hi:
            errors.append(
                InvalidParameterValue(
                    f"The parameter {path}.StatisticValues.Minimum must not be greater than "
                    f"{path}.StatisticValues.Maximum."
                )
            )
        if len(errors) > n_errors:
            return None
    assert dims is not None and name
    return _Datum(
        SeriesKey(namespace, name, dims),
        unit,
        int(resolution),
        timestamp,
        total,
        count,
        lo,
        hi,
        raw,
        weights,
    )


# ---------------------------------------------------------------------------- query parsing


def _parse_queries(raw_queries: Sequence[Any]) -> list[_Query]:
    """Validate MetricDataQueries: ids, MetricStat xor Expression, periods, statistics,
    expression syntax, references and cycles. All problems are reported together."""
    errors: list[AwsError] = []
    queries: list[_Query] = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_queries, 1):
        path = f"MetricDataQueries.member.{i}"
        q = _parse_query(i, path, raw, errors)
        if q is None:
            continue
        if q.id in seen:
            errors.append(
                ValidationError(
                    f"The value {q.id} for parameter {path}.Id is not unique; each query Id "
                    "must be unique within the request."
                )
            )
            continue
        seen.add(q.id)
        queries.append(q)
    _raise_all(errors)

    by_id = {q.id: q for q in queries}
    metric_ids = [q.id for q in queries if q.is_metric]
    nodes = {q.id: q.node for q in queries if q.node is not None}
    for q in queries:
        if q.node is None:
            continue
        for ref in mm.references(q.node):
            if ref not in by_id:
                errors.append(_expression_error(q, f"Unknown metric or expression id {ref!r}"))
    _raise_all(errors)
    cycle = mm.find_cycle(mm.expression_ids(nodes, metric_ids))
    if cycle:
        q = by_id[cycle[0]]
        errors.append(_expression_error(q, f"Circular reference: {' -> '.join(cycle)}"))
    _raise_all(errors)
    return queries


def _parse_query(i: int, path: str, raw: Any, errors: list[AwsError]) -> _Query | None:
    n_errors = len(errors)
    if not isinstance(raw, Mapping):
        errors.append(ValidationError(f"The parameter {path} is invalid."))
        return None
    qid = raw.get("Id")
    if not qid:
        errors.append(MissingParameter(f"The parameter {path}.Id is required."))
        return None
    if not isinstance(qid, str) or not _ID_PATTERN.match(qid) or len(qid) > 255:
        errors.append(
            ValidationError(
                f"The value {qid} for parameter {path}.Id is not matching the expected pattern "
                "^[a-z][a-zA-Z0-9_]*$."
            )
        )
    stat_spec, expression = raw.get("MetricStat"), raw.get("Expression")
    if stat_spec is not None and expression is not None:
        errors.append(
            ValidationError(
                f"The parameters {path}.MetricStat and {path}.Expression are mutually exclusive "
                "and you have specified both."
            )
        )
        return None
    if stat_spec is None and expression is None:
        errors.append(
            ValidationError(
                f"The parameter {path}.MetricStat is required (or {path}.Expression; exactly one "
                "of them)."
            )
        )
        return None
    period = raw.get("Period")
    if period is not None and not _valid_period(period):
        errors.append(_period_error(period, f"{path}.Period"))
    return_data = raw.get("ReturnData")
    label = raw.get("Label")
    q = _Query(i, qid, label, True if return_data is None else bool(return_data), period)

    if stat_spec is not None:
        spath = f"{path}.MetricStat"
        metric = stat_spec.get("Metric")
        if not isinstance(metric, Mapping):
            errors.append(MissingParameter(f"The parameter {spath}.Metric is required."))
            return None
        for name in ("Namespace", "MetricName"):
            if not metric.get(name):
                errors.append(MissingParameter(f"The parameter {spath}.Metric.{name} is required."))
        dims = _dimensions(metric.get("Dimensions"), f"{spath}.Metric.Dimensions", errors)
        mperiod = stat_spec.get("Period")
        if mperiod is None:
            errors.append(MissingParameter(f"The parameter {spath}.Period is required."))
        elif not _valid_period(mperiod):
            errors.append(_period_error(mperiod, f"{spath}.Period"))
        stat_name = stat_spec.get("Stat")
        stat = parse_statistic(stat_name) if isinstance(stat_name, str) else None
        if stat_name is None:
            errors.append(MissingParameter(f"The parameter {spath}.Stat is required."))
        elif stat is None:
            # AWS's wording, e.g. for "Foo": "The value Foo for parameter
            # MetricDataQueries.member.1.MetricStat.Stat is not a valid statistic."
            errors.append(
                ValidationError(
                    f"The value {stat_name} for parameter {spath}.Stat is not a valid statistic."
                )
            )
        unit = stat_spec.get("Unit")
        if unit is not None and unit not in STANDARD_UNITS:
            errors.append(
                ValidationError(f"The value {unit} for parameter {spath}.Unit is invalid.")
            )
        if len(errors) > n_errors:
            return None
        assert dims is not None
        q.key = SeriesKey(metric["Namespace"], metric["MetricName"], dims)
        q.stat, q.unit, q.period = stat, unit, mperiod
        return q

    if not isinstance(expression, str) or not expression.strip():
        errors.append(ValidationError(f"The parameter {path}.Expression must not be empty."))
        return None
    q.expression = expression
    if len(expression) > MAX_EXPRESSION_LENGTH:
        errors.append(
            ValidationError(
                f"The parameter {path}.Expression must be at most {MAX_EXPRESSION_LENGTH} "
                "characters long."
            )
        )
        return None
    try:
        q.node = mm.parse(expression)
        mm.check_functions(q.node)
    except mm.MathError as e:
        errors.append(_expression_error(q, str(e)))
        return None
    if len(errors) > n_errors:
        return None
    return q


def _period_error(period: Any, path: str) -> ValidationError:
    return ValidationError(
        f"The value {period} for parameter {path} is invalid: the period must be 1, 5, 10, 20, "
        "30 or a multiple of 60 seconds."
    )


# ---------------------------------------------------------------------------- paging


def _page(
    results: list[_Result],
    offset: int,
    max_points: int,
    descending: bool,
    backend: MetricsBackend,
    digest: str,
) -> dict[str, Any]:
    """One page of GetMetricData: datapoints ``[offset, offset + max_points)`` of all results
    laid end to end in request order (each in ScanBy order).

    Every page lists every returned query, so pages merge by position: concatenating a
    result's arrays over the pages gives the unpaged answer. A result is "Complete" on the
    page that delivers its last datapoint (or that has nothing left for it), "PartialData"
    while datapoints remain for a later page.
    """
    stop = offset + max_points
    out = []
    cursor = 0
    for r in results:
        n = r.timestamps.size
        lo, hi = min(max(offset - cursor, 0), n), min(max(stop - cursor, 0), n)
        ts, vals = r.timestamps, r.values
        if descending:
            ts, vals = ts[::-1], vals[::-1]
        if lo or hi < n:
            ts, vals = ts[lo:hi], vals[lo:hi]
        entry: dict[str, Any] = {
            "Id": r.id,
            "Label": r.label,
            "Timestamps": ts,
            "Values": vals,
            "StatusCode": "Complete" if cursor + n <= stop else "PartialData",
        }
        if r.messages:
            entry["Messages"] = r.messages
        out.append(entry)
        cursor += n
    response: dict[str, Any] = {"MetricDataResults": out, "Messages": []}
    if cursor > stop:
        response["NextToken"] = backend._token("GetMetricData", digest, stop)
    return response
