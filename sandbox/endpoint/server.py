"""The local AWS endpoint: moto's WSGI app behind a fidelity layer, on loopback only.

Every request is identified (service from the SigV4 credential scope, protocol and operation
from botocore's model, account from the access key as moto maps it), offered to the fault
injector, then answered either by one of the sandbox's own backends (CloudWatch, X-Ray, SQS
move tasks) or by moto. The admin routes live under ``/_sandbox/`` on the same port.
"""

from __future__ import annotations

import errno
import gzip
import io
import json
import logging
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any, Protocol

from botocore.exceptions import UnknownServiceError
from moto.core.config import default_user_config
from moto.iam.models import get_account_id_from
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from sandbox.endpoint import wire
from sandbox.endpoint.context import RequestContext
from sandbox.endpoint.errors import AwsError
from sandbox.endpoint.faults import FaultInjector, FaultKind
from sandbox.endpoint.services import SandboxServices

log = logging.getLogger(__name__)

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
Clock = Callable[[], datetime]


class Handler(Protocol):
    operations: frozenset[str]

    def handle(
        self, operation: str, params: dict[str, Any], ctx: RequestContext
    ) -> dict[str, Any]: ...


def _utc_now() -> datetime:
    return datetime.now(UTC)


class SandboxApp:
    """The WSGI application: admin routes, fault injection, own backends, then moto."""

    def __init__(self, clock: Clock = _utc_now) -> None:
        # No Lambda runtime here: invocations (including moto's inline SQS event-source polling)
        # get moto's stubbed success instead of a Docker container.
        default_user_config["lambda"]["use_docker"] = False
        default_user_config["batch"]["use_docker"] = False
        self.clock = clock
        self.moto = DomainDispatcherApplication(create_backend_app)
        self.faults = FaultInjector()
        self.services = SandboxServices()

    # -- WSGI ---------------------------------------------------------------------------------
    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_sandbox/"):
            return self._admin(environ, start_response)
        body = _read_body(environ)
        environ["wsgi.input"] = io.BytesIO(body)
        headers = _headers(environ)
        request = wire.HttpRequest(
            method=environ.get("REQUEST_METHOD", "GET"),
            path=path,
            query_string=environ.get("QUERY_STRING", ""),
            headers=headers,
            body=_decompressed(body, headers),
        )
        scope = _credential_scope(request.headers.get("authorization", ""))
        if scope is None:
            return self.moto(environ, start_response)
        access_key, region, signing_name = scope
        service = wire.service_from_signing_name(signing_name)
        try:
            model = wire.service_model(service)
        except UnknownServiceError:
            return self.moto(environ, start_response)
        protocol = wire.detect_protocol(model, request)
        operation = wire.identify_operation(model, protocol, request) or "Unknown"
        account = get_account_id_from(access_key)
        request_id = str(uuid.uuid4())

        rule = self.faults.match(service, operation, account, region)
        if rule is not None:
            if rule.kind is FaultKind.LATENCY:
                time.sleep(rule.latency_ms / 1000)
            elif rule.kind is FaultKind.DROP_CONNECTION:
                _drop(environ)
            else:
                error = rule.error(service, operation, account)
                return _respond(
                    start_response, wire.encode_error(model, protocol, error, request_id)
                )

        handler = self.services.handler(service)
        if handler is None or operation not in handler.operations:
            return self.moto(environ, start_response)
        ctx = RequestContext(
            account_id=account, region=region, now=self.clock(), request_id=request_id
        )
        op_model = model.operation_model(operation)
        started = time.perf_counter()
        try:
            params = wire.decode_request(op_model, protocol, request)
            output = handler.handle(operation, params, ctx)
            response = wire.encode_response(op_model, protocol, output, request_id)
            # Server-side time (decode + compute + encode), for benchmarks; clients ignore it.
            elapsed_ms = (time.perf_counter() - started) * 1000
            response.headers["Server-Timing"] = f"sandbox;dur={elapsed_ms:.2f}"
        except AwsError as error:
            response = wire.encode_error(model, protocol, error, request_id)
        except Exception:  # a bug of ours must still look like AWS's 500, not a broken socket
            log.exception("sandbox %s.%s failed", service, operation)
            error = AwsError("The sandbox failed to answer; see its log.", code="InternalFailure")
            response = wire.encode_error(model, protocol, error, request_id)
        return _respond(start_response, response)

    # -- admin routes -------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget every resource, datapoint, trace and fault rule (moto's state included)."""
        from moto.moto_api._internal.models import moto_api_backend

        moto_api_backend.reset()
        self.services.reset()
        self.faults.clear()

    def _admin(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "").rstrip("/")
        try:
            status, document = self._admin_route(method, path, _read_body(environ))
        except (ValueError, TypeError, KeyError) as exc:
            status, document = 400, {"error": str(exc)}
        body = json.dumps(document).encode()
        start_response(
            f"{status} {HTTPStatus(status).phrase}",
            [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
        )
        return [body]

    def _admin_route(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        if path == "/_sandbox/health" and method == "GET":
            return 200, {"status": "ok"}
        if path == "/_sandbox/reset" and method == "POST":
            self.reset()
            return 200, {"status": "reset"}
        if path == "/_sandbox/faults":
            if method == "GET":
                return 200, {"rules": [r.to_dict() for r in self.faults.rules()]}
            if method == "POST":
                spec = json.loads(body or b"{}")
                if not isinstance(spec, dict) or "kind" not in spec:
                    raise ValueError("a fault rule is a JSON object with at least 'kind'")
                kind = spec.pop("kind")
                return 201, self.faults.add(kind, **spec).to_dict()
            if method == "DELETE":
                self.faults.clear()
                return 200, {"rules": []}
        if path.startswith("/_sandbox/faults/") and method == "DELETE":
            rule_id = int(path.rsplit("/", 1)[1])
            if self.faults.remove(rule_id):
                return 200, {"removed": rule_id}
            return 404, {"error": f"no fault rule {rule_id}"}
        return 404, {"error": f"no admin route {method} {path}"}


def _read_body(environ: dict[str, Any]) -> bytes:
    """The whole request body: by Content-Length, or to the end of a chunked upload."""
    length = environ.get("CONTENT_LENGTH") or ""
    try:
        size = int(length)
    except ValueError:
        size = -1
    if size > 0:
        return environ["wsgi.input"].read(size)
    if size < 0 and environ.get("wsgi.input_terminated"):
        # Transfer-Encoding: chunked (pyarrow's S3 uploads): werkzeug ends the stream for us.
        return environ["wsgi.input"].read()
    return b""


def _decompressed(body: bytes, headers: dict[str, str]) -> bytes:
    """The body without its transfer compression: botocore gzips large PutMetricData requests."""
    if headers.get("content-encoding", "").lower() == "gzip" and body:
        try:
            return gzip.decompress(body)
        except (OSError, EOFError):
            return body  # left for the protocol decoder to reject with a 400
    return body


def _headers(environ: dict[str, Any]) -> dict[str, str]:
    headers = {
        key[5:].replace("_", "-").lower(): value
        for key, value in environ.items()
        if key.startswith("HTTP_")
    }
    if environ.get("CONTENT_TYPE"):
        headers["content-type"] = environ["CONTENT_TYPE"]
    return headers


def _credential_scope(authorization: str) -> tuple[str, str, str] | None:
    """(access key, region, signing name) from a SigV4 ``Authorization`` header."""
    if "Credential=" not in authorization:
        return None
    credential = authorization.split("Credential=", 1)[1].split(",", 1)[0].strip()
    parts = credential.split("/")
    if len(parts) != 5:
        return None
    access_key, _date, region, signing_name, _terminator = parts
    return access_key, region, signing_name


def _respond(start_response: Callable[..., Any], response: wire.HttpResponse) -> list[bytes]:
    headers = [*response.headers.items(), ("Content-Length", str(len(response.body)))]
    start_response(f"{response.status} {HTTPStatus(response.status).phrase}", headers)
    return [response.body]


def _drop(environ: dict[str, Any]) -> None:
    """Close the client's connection without an answer, as a load balancer reset would."""
    connection = environ.get("werkzeug.socket")
    if connection is not None:
        try:
            connection.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
            )
            connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    # werkzeug treats a ConnectionError from the app as a dropped connection and stays quiet.
    raise ConnectionAbortedError("sandbox fault: connection dropped")


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class PortInUseError(OSError):
    """The requested port is taken; the message names it."""


class Endpoint:
    """The sandbox endpoint in this process: ``start()``, ``url``, ``reset()``, ``stop()``.

    Binds only to loopback. ``port=0`` takes a free port.
    """

    def __init__(self, port: int = 0, host: str = "127.0.0.1", clock: Clock = _utc_now) -> None:
        if host not in LOOPBACK_HOSTS:
            raise ValueError(f"the sandbox endpoint binds to loopback only, not {host!r}")
        self.host = "127.0.0.1" if host == "localhost" else host
        self.port = port
        self.app = SandboxApp(clock=clock)
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._listener: socket.socket | None = None

    @property
    def faults(self) -> FaultInjector:
        return self.app.faults

    @property
    def services(self) -> SandboxServices:
        return self.app.services

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the endpoint is not started; call start() first")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self._server.server_address[1]}"

    def start(self) -> Endpoint:
        # Bind the socket ourselves: werkzeug prints and exits the process on EADDRINUSE.
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        try:
            listener.bind((self.host, self.port))
        except OSError as exc:
            listener.close()
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                raise PortInUseError(f"port {self.port} on {self.host} is already in use") from exc
            raise
        listener.listen(128)
        self._listener = listener
        self._server = make_server(
            self.host,
            listener.getsockname()[1],
            self.app,
            threaded=True,
            request_handler=_QuietHandler,
            fd=listener.fileno(),
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="sandbox-endpoint", daemon=True
        )
        self._thread.start()
        return self

    def reset(self) -> None:
        self.app.reset()

    def stop(self) -> None:
        """Stop serving and forget the state: moto's backends are global to the process, so an
        endpoint that stopped must not leave resources behind for the next one."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self.app.reset()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._listener is not None:
            self._listener.close()
        self._server = None
        self._listener = None
        self._thread = None

    def __enter__(self) -> Endpoint:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
