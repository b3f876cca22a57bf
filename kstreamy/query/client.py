"""A small Python client for interactive queries (stdlib ``urllib`` only).

It may be pointed at any instance: a key that lives elsewhere comes back as a redirect to the
instance that holds it, which the client follows. Range queries ask every instance and merge.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote, urlencode

from kstreamy.errors import KStreamyError
from kstreamy.query.codec import from_jsonable, key_to_text
from kstreamy.query.endpoints import read_endpoints

RETRY_S = 5.0
"""How long a query retries answers that mean "not now" (restoring, rebalancing)."""


class QueryError(KStreamyError):
    """A query could not be answered; ``status`` and ``code`` are the server's answer."""

    def __init__(self, message: str, status: int = 0, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # answered as an HTTPError; followed (and counted) by the client itself


class Client:
    """Queries the stores of a running application.

    ``Client("http://host:8080")`` (or a list of endpoints) talks to those instances;
    ``Client(bootstrap_servers="kafka:9092", application_id="word-count")`` finds them in the
    application's endpoints topic; on a cluster with security settings, give them as
    ``kafka_config`` (librdkafka properties, e.g. ``app.config.kafka_config``).
    """

    def __init__(
        self,
        endpoints: str | list[str] | None = None,
        *,
        bootstrap_servers: str | None = None,
        application_id: str | None = None,
        timeout: float = 10.0,
        max_redirects: int = 3,
        kafka_config: dict[str, Any] | None = None,
    ) -> None:
        if endpoints is None and not (bootstrap_servers and application_id):
            raise KStreamyError("Client needs endpoints, or bootstrap_servers and application_id")
        self._given = [endpoints] if isinstance(endpoints, str) else list(endpoints or [])
        self._bootstrap = bootstrap_servers
        self._application_id = application_id
        self._kafka_config = dict(kafka_config or {})
        self.timeout = timeout
        self.max_redirects = max_redirects
        self.redirects_followed = 0
        """How many redirects this client has followed (keys found on another instance)."""
        self._opener = urllib.request.build_opener(_NoRedirect)
        self._discovered: list[str] | None = None

    def endpoints(self, refresh: bool = False) -> list[str]:
        """The endpoints this client asks: the given ones, or those the endpoints topic names
        (read once, and again when none of them answers)."""
        if self._given:
            return [e.rstrip("/") for e in self._given]
        if self._discovered is None or refresh:
            assert self._bootstrap and self._application_id
            records = read_endpoints(
                self._bootstrap, self._application_id, self.timeout, **self._kafka_config
            )
            urls = sorted({r["url"] for r in records.values() if r.get("url")})
            if not urls:
                raise QueryError(
                    f"no instance of {self._application_id} publishes a query endpoint", 503
                )
            self._discovered = urls
        return self._discovered

    def _every_instance(self) -> list[str]:
        """The endpoints of every instance: given ones also tell where the others are."""
        if not self._given:
            return self.endpoints()
        records = self._ask_once("/endpoints", {})["endpoints"]
        urls = {r["url"].rstrip("/") for r in records.values() if r.get("url")}
        return sorted(urls | set(self.endpoints()))

    def get(self, store: str, key: Any) -> Any:
        """The value of ``key`` in ``store``, or None when the store has no such key."""
        text, key_format = key_to_text(key)
        path = f"/stores/{quote(store, safe='')}/keys/{quote(text, safe='')}"
        try:
            body = self._ask(path, {"key_format": key_format})
        except QueryError as exc:
            if exc.code == "key_not_found":
                return None
            raise
        return from_jsonable(body["value"])

    def windows(self, store: str, key: Any, start_ms: int, end_ms: int) -> list[dict[str, Any]]:
        """The windows of ``key`` in a window store starting in ``[start_ms, end_ms]``."""
        text, key_format = key_to_text(key)
        path = f"/stores/{quote(store, safe='')}/keys/{quote(text, safe='')}/windows"
        params = {"key_format": key_format, "from": str(start_ms), "to": str(end_ms)}
        return from_jsonable(self._ask(path, params)["windows"])

    def range(
        self, store: str, start: Any = None, end: Any = None, limit: int = 1000
    ) -> list[tuple[Any, Any]]:
        """Keys ``start <= key <= end`` in serialized byte order, from every instance.

        Raises QueryError when the instances together did not cover every partition (some are
        restoring or moving): a partial answer would silently miss keys.
        """
        params: dict[str, str] = {"limit": str(limit)}
        for name, key in (("from", start), ("to", end)):
            if key is not None:
                params[name], params["key_format"] = key_to_text(key)
        path = f"/stores/{quote(store, safe='')}/range"
        deadline = time.monotonic() + RETRY_S
        while True:
            covered: set[str] = set()
            items: list[tuple[bytes, Any, Any]] = []
            partitions = 0
            for endpoint in self._every_instance():
                body = self._request(endpoint + path, params)
                partitions = body["partitions"]
                covered.update(body["tasks"])
                items += [
                    (base64.b64decode(i["key_bytes"]), i["key"], i["value"]) for i in body["items"]
                ]
            if len(covered) >= partitions:
                items.sort(key=lambda item: item[0])  # the store's order: serialized bytes
                return [(from_jsonable(k), from_jsonable(v)) for _, k, v in items[:limit]]
            if time.monotonic() >= deadline:
                raise QueryError(
                    f"range over {store}: only {len(covered)} of {partitions} partitions answered",
                    503,
                    "incomplete",
                )
            time.sleep(0.2)

    # -- HTTP ------------------------------------------------------------------------------

    def _ask(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        """Ask the first reachable endpoint; follow redirects; retry "not now" answers."""
        deadline = time.monotonic() + RETRY_S
        while True:
            try:
                return self._ask_once(path, params)
            except QueryError as exc:
                if exc.status != 503 or time.monotonic() >= deadline:
                    raise
            time.sleep(0.2)

    def _ask_once(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        errors = []
        for endpoint in self.endpoints():
            try:
                return self._request(endpoint + path, params)
            except QueryError as exc:
                if exc.code != "unreachable":
                    raise
                errors.append(str(exc))
        if not self._given:
            self._discovered = None  # instances moved: read the endpoints topic again next time
            raise QueryError("; ".join(errors), 503, "unreachable")
        raise QueryError("; ".join(errors), 0, "unreachable")

    def _request(self, url: str, params: dict[str, str]) -> dict[str, Any]:
        url = f"{url}?{urlencode(params)}" if params else url
        for _ in range(self.max_redirects + 1):
            try:
                with self._opener.open(url, timeout=self.timeout) as response:
                    return json.loads(response.read())
            except urllib.error.HTTPError as exc:
                body = _json_body(exc)
                if exc.code in (301, 302, 307, 308) and exc.headers.get("Location"):
                    url = exc.headers["Location"]
                    self.redirects_followed += 1
                    continue
                raise QueryError(
                    body.get("message", f"HTTP {exc.code}"), exc.code, body.get("error", "")
                ) from None
            except (urllib.error.URLError, OSError) as exc:
                raise QueryError(f"{url}: {exc}", 0, "unreachable") from None
        raise QueryError(f"more than {self.max_redirects} redirects (partitions moving?)", 503)


def _json_body(exc: urllib.error.HTTPError) -> dict[str, Any]:
    try:
        return json.loads(exc.read())
    except (ValueError, OSError):
        return {}
