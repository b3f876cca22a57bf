"""The HTTP side of interactive queries: stdlib ``http.server`` in daemon threads.

Routes (all GET, JSON answers):

=========================================== ===============================================
``/stores``                                  the stores, their partitions and local tasks
``/stores/<store>/keys/<key>``               one key (307 to the owner if it lives elsewhere)
``/stores/<store>/keys/<key>/windows``       a key's windows, ``?from=&to=`` (epoch ms)
``/stores/<store>/range``                    ``?from=&to=&limit=``: keys in this instance
``/endpoints``                               what the endpoints topic says about instances
``/health``                                  this instance's id and state
=========================================== ===============================================

Keys are URL path segments (percent-encode ``/``); ``?key_format=json|base64|text`` says how to
read them (see :mod:`kstreamy.query.codec`). The server also keeps reading the endpoints topic
and republishes this instance's record when a delivery failed.
"""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from kstreamy.config import AppConfig
from kstreamy.errors import ConfigError
from kstreamy.kafka.clients import common_settings
from kstreamy.query.endpoints import EndpointPublisher, EndpointReader, create_endpoints_topic
from kstreamy.query.service import Answer, QueryService
from kstreamy.runtime.local_stores import LocalStores
from kstreamy.runtime.task_manager import TaskManager

log = logging.getLogger("kstreamy.query")


class QueryServer:
    """Serves queries on ``query_host:query_port`` and shares this instance's endpoint."""

    def __init__(
        self, config: AppConfig, instance_id: str, tasks: TaskManager, state: Any = None
    ) -> None:
        assert config.query_port
        self.config = config
        self.instance_id = instance_id
        self.tasks = tasks
        self.state = state or (lambda: "running")
        self.url = f"http://{advertised_host(config.query_host)}:{config.query_port}"
        topic = create_endpoints_topic(config)
        self.publisher = EndpointPublisher(config, instance_id)
        self.reader = EndpointReader(common_settings(config), topic)
        self._records: dict[str, dict[str, Any]] = {}
        self.service = QueryService(LocalStores(tasks), instance_id, lambda: self._records)
        self._stopped = threading.Event()
        try:
            self._http = ThreadingHTTPServer((config.query_host, config.query_port), _Handler)
        except OSError as exc:
            self.reader.close()
            raise ConfigError(
                f"cannot serve queries on {config.query_host}:{config.query_port}: {exc}"
            ) from exc
        self._http.daemon_threads = True
        self._http.query_server = self  # type: ignore[attr-defined]
        self._threads = [
            threading.Thread(target=self._http.serve_forever, name="kstreamy-query", daemon=True),
            threading.Thread(target=self._follow, name="kstreamy-endpoints", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        self.publish()
        log.info("interactive queries on %s", self.url)

    def publish(self) -> None:
        """Tell the other instances which tasks run here (after every assignment change)."""
        tasks = self.tasks
        paused = tasks.paused
        leads = tasks.sub_of_lead
        self.publisher.publish(
            {
                "instance_id": self.instance_id,
                "url": self.url,
                "tasks": sorted(t for t in tasks.tasks if t not in paused),
                "restoring": sorted(t for t in tasks.tasks if t in paused),
                "partitions": sorted(f"{t}[{p}]" for t, p in tasks.routes if t in leads),
            }
        )

    def _follow(self) -> None:
        while not self._stopped.is_set():
            try:
                self.reader.poll(0.5)
                # Replace, never mutate: request threads read the dict without a lock.
                self._records = dict(self.reader.records)
                self.publisher.tick()
            except Exception as exc:
                log.warning("reading the endpoints topic: %s", exc)
                self._stopped.wait(1.0)

    def stop(self) -> None:
        self._stopped.set()
        self._http.shutdown()
        self._http.server_close()
        for thread in self._threads:
            thread.join(5)
        self.reader.close()
        try:
            self.publisher.withdraw()
        except Exception as exc:
            log.warning("withdrawing the query endpoint: %s", exc)

    def answer(self, path: str, query: str) -> Answer:
        """Route a GET request (the raw, still percent-encoded path) to the service."""
        params = dict(parse_qsl(query, keep_blank_values=True))
        parts = [unquote(p) for p in path.strip("/").split("/")]
        full = path + (f"?{query}" if query else "")
        service = self.service
        key_format = params.get("key_format", "text")
        match parts:
            case ["health"]:
                return Answer(200, {"instance_id": self.instance_id, "state": self.state()})
            case ["endpoints"]:
                return Answer(200, {"endpoints": self._records})
            case ["stores"]:
                return service.list_stores()
            case ["stores", store, "keys", key]:
                return service.get(store, key, key_format, full)
            case ["stores", store, "keys", key, "windows"]:
                return service.windows(store, key, key_format, params, full)
            case ["stores", store, "range"]:
                return service.range(store, params)
        return Answer(404, {"error": "no_route", "message": f"no route for {path}"})


class _Handler(BaseHTTPRequestHandler):
    server_version = "kstreamy"

    def do_GET(self) -> None:
        split = urlsplit(self.path)
        server: QueryServer = self.server.query_server  # type: ignore[attr-defined]
        try:
            answer = server.answer(split.path, split.query)
        except Exception as exc:
            log.exception("query %s failed", self.path)
            answer = Answer(500, {"error": "internal", "message": f"{type(exc).__name__}: {exc}"})
        # Values a serde returns that JSON has no type for (sets, dates) are sent as text.
        body = json.dumps(answer.body, default=str).encode()
        self.send_response(answer.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if answer.location:
            self.send_header("Location", answer.location)
        if answer.status == 503:
            self.send_header("Retry-After", "1")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("query: " + format, *args)


def advertised_host(bind: str) -> str:
    """The host other instances reach this one at: the bind address, or the host name when
    bound to every interface."""
    if bind in ("", "0.0.0.0", "::"):
        import socket

        return socket.getfqdn()
    return bind
