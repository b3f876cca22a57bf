"""The savepoint manifest: what a savepoint holds, as plain data, and its JSON form.

The manifest is the one file that makes a directory a savepoint; it is written last and
atomically, so a savepoint whose manifest reads is complete. Everything a reader needs to
restore or inspect the application is in it or in the files it names (see
``docs/savepoint-format.md`` for the format and the compatibility promise). It is JSON, read
field by field with clear errors: no pickle, nothing executable.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from kstreamy.savepoint.errors import SavepointFormatError

FORMAT_NAME = "kstreamy-savepoint"
FORMAT_VERSION = 1
"""Version of what this code writes. Readers accept every version up to this one."""
SUPPORTED_VERSIONS = (1,)
MANIFEST = "manifest.json"
SNAPSHOT_FORMAT = "rocksdb-sst-v1"
"""Store snapshots: one RocksDB SST file (SstFileWriter) of raw key and value bytes."""
IN_FLIGHT_FORMAT = "records-jsonl-v1"
"""Records in flight in repartition topics: JSON lines, base64 key/value, ms timestamp."""


@dataclasses.dataclass
class FileRef:
    """A file of the savepoint with what it must look like."""

    path: str | None
    """Relative to the savepoint; None for an empty store (SST files cannot be empty)."""
    entries: int
    bytes: int
    sha256: str | None


@dataclasses.dataclass
class StoreInfo:
    kind: str
    """"key_value", "window", "session" or "timers"."""
    format: str
    key_serde: dict[str, Any]
    value_serde: dict[str, Any]
    changelog_topic: str | None
    key_layout: str
    """"record_key": a store key is (or contains, per kind) the serialized record key, so the
    state can be moved to another partition count. "opaque": keys chosen by user code."""
    subtopology: int


@dataclasses.dataclass
class TaskInfo:
    subtopology: int
    partition: int
    input_offsets: dict[str, int | None]
    """Next offset to read per input topic (repartition topics included); None: nothing was
    committed, the application's ``auto_offset_reset`` applies."""
    changelog_offsets: dict[str, int]
    metadata: dict[str, Any]
    """The task's checkpoint metadata (watermarks, ...), restored with the state."""
    stores: dict[str, FileRef]

    @property
    def watermarks(self) -> Any:
        return self.metadata.get("watermarks", {})


@dataclasses.dataclass
class SubTopologyInfo:
    id: int
    source_topics: list[str]
    stores: list[str]
    partitions: int
    writes_repartition: list[str]


@dataclasses.dataclass
class Manifest:
    savepoint_id: str
    application_id: str
    created_at: str
    mode: str
    """"offline" (built from committed offsets and changelogs), "live" or "live-stop"."""
    partitioner: str
    topology_fingerprint: str
    topology_description: str
    subtopologies: list[SubTopologyInfo]
    topics: dict[str, dict[str, Any]]
    """Topic -> {"partitions": n, "role": "source" | "repartition" | "changelog"}."""
    stores: dict[str, StoreInfo]
    tasks: dict[str, TaskInfo]
    in_flight: dict[str, dict[int, FileRef]]
    """Repartition topic -> partition -> records produced but not yet read at the cut."""
    kstreamy_version: str = ""
    format_version: int = FORMAT_VERSION

    def files(self) -> list[tuple[str, FileRef]]:
        """Every file the manifest names, with a label for error messages."""
        out = []
        for tid, task in sorted(self.tasks.items()):
            for store, ref in sorted(task.stores.items()):
                out.append((f"task {tid} store {store}", ref))
        for topic, parts in sorted(self.in_flight.items()):
            for partition, ref in sorted(parts.items()):
                out.append((f"in-flight records of {topic}[{partition}]", ref))
        return out

    def subtopology(self, sub_id: int) -> SubTopologyInfo:
        for sub in self.subtopologies:
            if sub.id == sub_id:
                return sub
        raise KeyError(sub_id)

    def to_json(self) -> bytes:
        doc = {
            "format": FORMAT_NAME,
            "format_version": self.format_version,
            **{
                f.name: getattr(self, f.name)
                for f in dataclasses.fields(self)
                if f.name != "format_version"
            },
        }
        doc = json.loads(json.dumps(doc, default=_plain))
        doc["in_flight"] = {
            t: {str(p): ref for p, ref in parts.items()} for t, parts in doc["in_flight"].items()
        }
        return json.dumps(doc, indent=1, sort_keys=True).encode()


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


class _Reader:
    """Field access with errors that say which field of which savepoint is wrong."""

    def __init__(self, location: str) -> None:
        self.location = location

    def fail(self, problem: str) -> SavepointFormatError:
        return SavepointFormatError(self.location, problem)

    def get(self, doc: Any, key: str, kind: type | tuple[type, ...], where: str) -> Any:
        if not isinstance(doc, dict) or key not in doc:
            raise self.fail(f"manifest field {where}{key} is missing")
        value = doc[key]
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
            raise self.fail(f"manifest field {where}{key} has the wrong type ({value!r})")
        return value

    def mapping(
        self, doc: Any, key: str, kind: type | tuple[type, ...], where: str, optional: bool = False
    ) -> dict[str, Any]:
        """A dict field whose values must all be of ``kind`` (``optional``: or None), so a
        damaged offset or topic entry is named here, not met as a TypeError by its reader."""
        value = self.get(doc, key, dict, where)
        for name, item in value.items():
            if item is None and optional:
                continue
            if not isinstance(item, kind) or (isinstance(item, bool) and kind is int):
                raise self.fail(f"manifest field {where}{key}.{name} has the wrong type ({item!r})")
        return dict(value)

    def strings(self, doc: Any, key: str, where: str, default: list[str] | None = None) -> list:
        """A list of names (topics, stores)."""
        if default is not None and isinstance(doc, dict) and key not in doc:
            return list(default)
        value = self.get(doc, key, list, where)
        if not all(isinstance(item, str) for item in value):
            raise self.fail(f"manifest field {where}{key} must list names ({value!r})")
        return list(value)

    def file_ref(self, doc: Any, where: str) -> FileRef:
        if not isinstance(doc, dict):
            raise self.fail(f"manifest field {where.rstrip('.')} has the wrong type ({doc!r})")
        path = doc.get("path")
        if path is not None and not _relative_file(path):
            raise self.fail(
                f"manifest field {where}path leaves the savepoint or names no file ({path!r})"
            )
        sha = doc.get("sha256")
        if sha is not None and not isinstance(sha, str):
            raise self.fail(f"manifest field {where}sha256 has the wrong type ({sha!r})")
        return FileRef(
            path,
            self.get(doc, "entries", int, where),
            self.get(doc, "bytes", int, where),
            sha,
        )


def _relative_file(path: Any) -> bool:
    """A path inside the savepoint naming a file: not absolute, no ``..``, no NUL (which the
    file system would refuse with an error that does not name the manifest field)."""
    if not isinstance(path, str) or not path or path.startswith(("/", "\\")) or "\0" in path:
        return False
    parts = path.replace("\\", "/").split("/")
    return all(part not in ("", ".", "..") for part in parts)


def parse_manifest(raw: bytes, location: str) -> Manifest:
    """Read a manifest; every problem is a :class:`SavepointFormatError` naming the field."""
    r = _Reader(location)
    try:
        doc = json.loads(raw.decode("utf-8"))
    # RecursionError: nesting deeper than the stack, as only a damaged file has
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise r.fail(f"{MANIFEST} is not valid JSON (truncated or damaged?): {exc}") from exc
    if not isinstance(doc, dict) or doc.get("format") != FORMAT_NAME:
        raise r.fail(f"{MANIFEST} is not a kstreamy savepoint manifest")
    version = doc.get("format_version")
    if type(version) is not int:  # checked first: true == 1.0 == 1
        raise r.fail(f"manifest field format_version is missing or not an integer ({version!r})")
    if version not in SUPPORTED_VERSIONS:
        raise r.fail(
            f"format version {version!r} is not supported (this kstreamy reads "
            f"{', '.join(map(str, SUPPORTED_VERSIONS))}); use a kstreamy release that knows it"
        )
    subs = [
        SubTopologyInfo(
            r.get(s, "id", int, "subtopologies[]."),
            r.strings(s, "source_topics", "subtopologies[]."),
            r.strings(s, "stores", "subtopologies[]."),
            r.get(s, "partitions", int, "subtopologies[]."),
            r.strings(s, "writes_repartition", "subtopologies[].", default=[]),
        )
        for s in r.get(doc, "subtopologies", list, "")
    ]
    stores = {}
    for name, s in r.get(doc, "stores", dict, "").items():
        where = f"stores.{name}."
        stores[name] = StoreInfo(
            r.get(s, "kind", str, where),
            r.get(s, "format", str, where),
            r.get(s, "key_serde", dict, where),
            r.get(s, "value_serde", dict, where),
            _optional_name(r, s, "changelog_topic", where),
            r.get(s, "key_layout", str, where),
            r.get(s, "subtopology", int, where),
        )
    tasks = {}
    for tid, t in r.get(doc, "tasks", dict, "").items():
        where = f"tasks.{tid}."
        tasks[tid] = TaskInfo(
            r.get(t, "subtopology", int, where),
            r.get(t, "partition", int, where),
            r.mapping(t, "input_offsets", int, where, optional=True),
            r.mapping(t, "changelog_offsets", int, where),
            dict(r.get(t, "metadata", dict, where)),
            {
                name: r.file_ref(ref, f"{where}stores.{name}.")
                for name, ref in r.get(t, "stores", dict, where).items()
            },
        )
    in_flight: dict[str, dict[int, FileRef]] = {}
    for topic, parts in r.mapping(doc, "in_flight", dict, "").items():
        in_flight[topic] = {}
        for partition, ref in parts.items():
            if not (partition.isascii() and partition.isdigit()):  # "²" is a digit, not an int
                raise r.fail(f"manifest field in_flight.{topic} has a bad partition {partition!r}")
            in_flight[topic][int(partition)] = r.file_ref(ref, f"in_flight.{topic}.{partition}.")
    return Manifest(
        savepoint_id=r.get(doc, "savepoint_id", str, ""),
        application_id=r.get(doc, "application_id", str, ""),
        created_at=r.get(doc, "created_at", str, ""),
        mode=r.get(doc, "mode", str, ""),
        partitioner=r.get(doc, "partitioner", str, ""),
        topology_fingerprint=r.get(doc, "topology_fingerprint", str, ""),
        topology_description=r.get(doc, "topology_description", str, ""),
        subtopologies=subs,
        topics=r.mapping(doc, "topics", dict, ""),
        stores=stores,
        tasks=tasks,
        in_flight=in_flight,
        kstreamy_version=str(doc.get("kstreamy_version", "")),
        format_version=version,
    )


def _optional_name(r: _Reader, doc: dict[str, Any], key: str, where: str) -> str | None:
    value = doc.get(key)
    if value is not None and not isinstance(value, str):
        raise r.fail(f"manifest field {where}{key} has the wrong type ({value!r})")
    return value
