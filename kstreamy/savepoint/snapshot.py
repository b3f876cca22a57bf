"""Snapshot files: a store's entries as one RocksDB SST file, in-flight records as JSON lines.

SST files are what RocksDB itself is made of: compact, block-checksummed, sorted, and written
in one pass by ``SstFileWriter`` from a store scan. They are read back by ingesting a copy into
a scratch database (rocksdict has no SST reader); the copy keeps the savepoint's file
byte-identical, whatever RocksDB does to ingested files.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from rocksdict import IngestExternalFileOptions, Options, Rdict, SstFileWriter

from kstreamy.savepoint.errors import SavepointFormatError
from kstreamy.savepoint.format import FileRef

_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_sst(entries: Iterable[tuple[bytes, bytes]], path: Path, rel: str) -> FileRef:
    """Write key-sorted ``entries`` to ``path``; an empty store gives a file-less reference."""
    writer: SstFileWriter | None = None
    count = 0
    try:
        for key, value in entries:
            if writer is None:
                path.parent.mkdir(parents=True, exist_ok=True)
                writer = SstFileWriter(Options(raw_mode=True))
                writer.open(str(path))
            writer[key] = value
            count += 1
        if writer is None:
            return FileRef(None, 0, 0, None)
        writer.finish()
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    _fsync(path)
    return FileRef(rel, count, path.stat().st_size, sha256_file(path))


def read_sst(path: Path) -> Iterator[tuple[bytes, bytes]]:
    """Entries of an SST file in key order (through a scratch copy, deleted afterwards)."""
    scratch = Path(tempfile.mkdtemp(prefix="kstreamy-sst-"))
    db = None
    try:
        copy = scratch / "in.sst"
        shutil.copyfile(path, copy)
        db = Rdict(str(scratch / "db"), Options(raw_mode=True))
        options = IngestExternalFileOptions()
        options.set_move_files(True)
        db.ingest_external_file([str(copy)], options)
        it = db.iter()
        it.seek_to_first()
        while it.valid():
            yield it.key(), it.value()
            it.next()
        del it
    finally:
        if db is not None:
            db.close()
        shutil.rmtree(scratch, ignore_errors=True)


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode()


def _unb64(text: str | None) -> bytes | None:
    return None if text is None else base64.b64decode(text, validate=True)


InFlightRecord = tuple[bytes | None, bytes | None, int, list[tuple[str, bytes]]]
"""(key, value, timestamp in ms, headers) of a record in a repartition topic."""


def write_records(records: Iterable[InFlightRecord], path: Path, rel: str) -> FileRef:
    count = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        for key, value, timestamp, headers in records:
            line = {
                "key": _b64(key),
                "value": _b64(value),
                "timestamp": timestamp,
                "headers": [[name, _b64(data)] for name, data in headers],
            }
            fh.write(json.dumps(line, separators=(",", ":")) + "\n")
            count += 1
        fh.flush()
        os.fsync(fh.fileno())
    return FileRef(rel, count, path.stat().st_size, sha256_file(path))


def read_records(path: Path) -> Iterator[InFlightRecord]:
    """The records of an in-flight file; a damaged line raises SavepointFormatError naming the
    file and line (the checksum catches damage first, unless the manifest was rewritten)."""
    with open(path, "rb") as fh:
        for number, line in enumerate(fh, 1):
            try:
                yield _record(line)
            except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
                raise SavepointFormatError(
                    str(path), f"line {number} is not an in-flight record: {exc!r}"
                ) from exc


def _record(line: bytes) -> InFlightRecord:
    # binascii.Error and UnicodeDecodeError are ValueErrors
    doc = json.loads(line.decode("utf-8"))
    headers = [(str(name), _unb64(data) or b"") for name, data in doc.get("headers", [])]
    timestamp = doc["timestamp"]
    if type(timestamp) is not int:
        raise ValueError(f"timestamp {timestamp!r} is not an integer")
    return _unb64(doc["key"]), _unb64(doc["value"]), timestamp, headers
