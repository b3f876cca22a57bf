"""App: the entry point users build a topology on and run."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kstreamy.config import AppConfig
from kstreamy.dsl.stream import Stream
from kstreamy.dsl.table import Table
from kstreamy.errors import TopologyError
from kstreamy.logs import configure_logging
from kstreamy.serde import Serde, resolve_serde
from kstreamy.topology import StoreSpec, Topology

TimestampExtractor = Callable[[Any, Any, float], float]


class App:
    """A stream-processing application, identified by ``application_id``.

    The id is the consumer group id and the prefix of every internal topic, so two processes
    running an App with the same id share the work. ``bootstrap_servers`` defaults to the
    ``KSTREAMY_BOOTSTRAP_SERVERS`` environment variable, then ``localhost:9092``.
    """

    def __init__(
        self, application_id: str, bootstrap_servers: str | None = None, **config: Any
    ) -> None:
        if bootstrap_servers is not None:
            config["bootstrap_servers"] = bootstrap_servers
        self.config = AppConfig.build(application_id, **config)
        self.topology = Topology(self.config.application_id)
        self._instance: Any = None

    @property
    def application_id(self) -> str:
        return self.config.application_id

    def stream(
        self,
        topic: str | list[str],
        key_serde: str | Serde = "bytes",
        value_serde: str | Serde = "bytes",
        timestamp: TimestampExtractor | None = None,
        name: str | None = None,
        max_out_of_orderness: float = 0.0,
        idle_timeout: float | None = None,
    ) -> Stream:
        """Read one or more topics as a stream.

        ``timestamp(key, value, record_ts)`` returns the event time in seconds; by default the
        Kafka record timestamp is used. Output records carry the event time of their input.

        Event time (windows, event-time timers) follows each input partition's watermark: the
        largest event time seen minus ``max_out_of_orderness`` seconds. A partition without
        records for ``idle_timeout`` seconds (wall clock) stops holding the watermark back
        until it has records again; None (default) waits for every partition, as Kafka
        Streams does.
        """
        topics = [topic] if isinstance(topic, str) else list(topic)
        if not topics or not all(isinstance(t, str) and t for t in topics):
            raise TopologyError(f"stream() needs topic names, got {topic!r}")
        if timestamp is not None and not callable(timestamp):
            raise TopologyError("timestamp must be a function (key, value, record_ts) -> seconds")
        if not isinstance(max_out_of_orderness, (int, float)) or max_out_of_orderness < 0:
            raise TopologyError(
                f"max_out_of_orderness must be seconds >= 0, got {max_out_of_orderness!r}"
            )
        if idle_timeout is not None and (
            not isinstance(idle_timeout, (int, float)) or idle_timeout <= 0
        ):
            raise TopologyError(f"idle_timeout must be seconds > 0 or None, got {idle_timeout!r}")
        key = resolve_serde(key_serde)
        value = resolve_serde(value_serde)
        params = {
            "topics": topics,
            "key_serde": key,
            "value_serde": value,
            "timestamp": timestamp,
            "max_out_of_orderness": float(max_out_of_orderness),
            "idle_timeout": None if idle_timeout is None else float(idle_timeout),
        }
        node = self.topology.add("source", [], params, name)
        return Stream(self.topology, node.name, key, value)

    def table(
        self,
        topic: str,
        name: str,
        key_serde: str | Serde = "bytes",
        value_serde: str | Serde = "bytes",
        backend: str = "rocksdb",
        changelog: bool = True,
    ) -> Table:
        """Read a (compacted) topic as a table: the latest value per key, None deletes.

        The rows are kept in a store called ``name`` so the table can be joined.
        """
        stream = self.stream(topic, key_serde, value_serde, name=f"{name}-source")
        key, value = stream.key_serde, stream.value_serde
        self.topology.add_store(StoreSpec(name, key, value, backend, changelog))
        node = self.topology.add("materialize", [stream.node], {"store": name}, name)
        return Table(self.topology, node.name, key, value, name)

    def describe(self, format: str = "text") -> str:
        """The topology: sub-topologies, processors, stores and the topics they use.

        ``format="text"`` reads like Kafka Streams' description; ``"mermaid"`` is a Mermaid
        flowchart to paste into docs that render it.
        """
        from kstreamy.describe import describe

        self.topology.validate()
        return describe(self.topology, format)

    def run(self, install_signal_handlers: bool = True) -> None:
        """Run one instance in this process until SIGTERM/SIGINT or :meth:`stop`."""
        from kstreamy.runtime.instance import Instance

        configure_logging(self.config.log_format)
        self._instance = Instance(
            self.topology, self.config, install_signal_handlers=install_signal_handlers
        )
        try:
            self._instance.run()
        finally:
            self._instance = None

    @property
    def metrics(self) -> Any:
        """Counters of the instance running in this process (None when not running)."""
        return self._instance.metrics if self._instance is not None else None

    def stop(self) -> None:
        """Ask a running instance to finish its batch, commit and leave the group."""
        if self._instance is not None:
            self._instance.stop()
