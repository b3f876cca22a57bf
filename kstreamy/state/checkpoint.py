"""Per-task checkpoint files: how far the local stores already reflect their changelogs.

A restarted instance restores only the changelog tail after these offsets instead of the whole
topic. The file is a promise about local disk, so it is written atomically and only after the
stores are flushed (see :mod:`kstreamy.runtime.commit_sequence`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from kstreamy.state.errors import CheckpointCorruptedError

FORMAT_VERSION = 1


class CheckpointFile:
    """A JSON file ``{"version": 1, "offsets": {changelog_topic: next_offset}, "metadata": {}}``.

    ``metadata`` holds what a task keeps next to its stores that is not in a store: its
    watermarks, the reset generation its state belongs to. It is optional (older files lack it).

    A missing file reads as ``{}`` (nothing restored yet). A file that exists but cannot be
    parsed raises :class:`CheckpointCorruptedError` instead of reading as ``{}``: "no
    checkpoint" next to a non-empty store would make the runtime replay a compacted changelog
    over stale local data, which can bring back keys whose tombstones are already compacted
    away. The caller wipes the task's stores and this file, then restores from scratch.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def exists(self) -> bool:
        return self.path.exists()

    def read(self) -> dict[str, int]:
        """Return changelog topic -> next offset to restore from; ``{}`` if there is no file."""
        return self.read_all()[0]

    def read_all(self) -> tuple[dict[str, int], dict[str, object]]:
        """Offsets and metadata; ``({}, {})`` if there is no file."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}, {}
        try:
            doc = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CheckpointCorruptedError(self.path, f"not valid JSON ({exc})") from exc
        if not isinstance(doc, dict):
            raise CheckpointCorruptedError(self.path, "top level is not an object")
        version = doc.get("version")
        if version != FORMAT_VERSION:
            raise CheckpointCorruptedError(
                self.path, f"unsupported format version {version!r} (expected {FORMAT_VERSION})"
            )
        offsets = doc.get("offsets")
        if not isinstance(offsets, dict):
            raise CheckpointCorruptedError(self.path, "'offsets' is missing or not an object")
        for topic, offset in offsets.items():
            if not _is_offset(offset):
                raise CheckpointCorruptedError(
                    self.path, f"offset of {topic!r} is not a non-negative integer: {offset!r}"
                )
        metadata = doc.get("metadata", {})
        if not isinstance(metadata, dict):
            raise CheckpointCorruptedError(self.path, "'metadata' is not an object")
        return dict(offsets), metadata

    def write(self, offsets: dict[str, int], metadata: dict[str, object] | None = None) -> None:
        """Replace the file atomically: a crash leaves either the old or the new content.

        Temp file, fsync, rename, fsync of the directory: without the last step the rename
        itself may not survive a power loss.
        """
        for topic, offset in offsets.items():
            if not isinstance(topic, str) or not _is_offset(offset):
                raise ValueError(f"bad checkpoint entry {topic!r}: {offset!r}")
        doc: dict[str, object] = {
            "version": FORMAT_VERSION,
            "offsets": dict(sorted(offsets.items())),
        }
        if metadata:
            doc["metadata"] = metadata
        data = json.dumps(doc, separators=(",", ":"), sort_keys=True).encode("utf-8")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)
        fsync_dir(self.path.parent)

    def delete(self) -> None:
        """Remove the file, e.g. while state is being wiped or rewritten without commits."""
        try:
            self.path.unlink()
        except FileNotFoundError:
            return
        fsync_dir(self.path.parent)

    def __repr__(self) -> str:
        return f"CheckpointFile({str(self.path)!r})"


def _is_offset(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def fsync_dir(directory: Path) -> None:
    # Directories cannot be opened for fsync on every platform (Windows); best effort there.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
