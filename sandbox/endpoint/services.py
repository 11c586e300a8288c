"""The services the sandbox answers itself instead of moto, and where their state lives.

Each service maps operation names to methods of a per-(account, region) backend. Operations not
listed here fall through to moto (e.g. CloudWatch dashboards, X-Ray sampling rules).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sandbox.endpoint.backends import AccountRegionBackends
from sandbox.endpoint.cloudwatch.alarms import ALARM_OPERATIONS, AlarmsBackend
from sandbox.endpoint.cloudwatch.metrics import METRIC_OPERATIONS, MetricsBackend
from sandbox.endpoint.sqs_move_tasks import SqsMoveTasks
from sandbox.endpoint.xray.backend import XRAY_OPERATIONS, XRayBackend

if TYPE_CHECKING:
    from collections.abc import Mapping

    from sandbox.endpoint.context import RequestContext


class BackendService:
    """Routes each operation to ``getattr(backend, method)(params, ctx)`` on its backend."""

    def __init__(self, routes: Mapping[str, tuple[AccountRegionBackends[Any], str]]) -> None:
        self._routes = dict(routes)
        self.operations = frozenset(self._routes)

    def handle(self, operation: str, params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        backends, method = self._routes[operation]
        backend = backends.get(ctx.account_id, ctx.region)
        result: dict[str, Any] = getattr(backend, method)(params, ctx)
        return result


def _routes(
    backends: AccountRegionBackends[Any], operations: Mapping[str, str]
) -> dict[str, tuple[AccountRegionBackends[Any], str]]:
    return {operation: (backends, method) for operation, method in operations.items()}


class SandboxServices:
    """All of the sandbox's own state; ``reset()`` forgets it."""

    def __init__(self) -> None:
        self.metrics: AccountRegionBackends[MetricsBackend] = AccountRegionBackends(MetricsBackend)
        self.alarms: AccountRegionBackends[AlarmsBackend] = AccountRegionBackends(AlarmsBackend)
        self.xray: AccountRegionBackends[XRayBackend] = AccountRegionBackends(XRayBackend)
        self.sqs_move_tasks = SqsMoveTasks()
        self._handlers: dict[str, Any] = {
            "cloudwatch": BackendService(
                {
                    **_routes(self.metrics, METRIC_OPERATIONS),
                    **_routes(self.alarms, ALARM_OPERATIONS),
                }
            ),
            "xray": BackendService(_routes(self.xray, XRAY_OPERATIONS)),
            "sqs": self.sqs_move_tasks,
        }

    def handler(self, service: str) -> Any:
        return self._handlers.get(service)

    def reset(self) -> None:
        for backends in (self.metrics, self.alarms, self.xray):
            backends.reset()
        self.sqs_move_tasks.reset()
