"""What an instance checks in its state directory before it uses it.

Each check lives where its knowledge is (:mod:`kstreamy.state.disk`,
:mod:`kstreamy.state.state_dir_layout`); this module only says which run at start, in what
order: the disk first (every later step writes), the owner and the topology's layout once the
directory lock is held (they delete things, which only the lock holder may do).
"""

from __future__ import annotations

from pathlib import Path

from kstreamy.state.disk import check_writable
from kstreamy.state.state_dir_layout import claim, remove_stale
from kstreamy.topology import Topology


def check_disk(app_state_dir: Path) -> None:
    """Stop with a clear error at once if the directory cannot be written."""
    check_writable(app_state_dir)


def check_contents(app_state_dir: Path, application_id: str, topology: Topology) -> None:
    """Refuse another application's directory; delete task and store directories of another
    version of the topology. Call with the directory lock held."""
    claim(app_state_dir, application_id)
    remove_stale(app_state_dir, persistent_stores(topology))


def persistent_stores(topology: Topology) -> dict[int, set[str]]:
    """Sub-topology id -> names of its stores that live on disk, for sub-topologies with
    state of any kind."""
    return {
        sub.id: {n for n in sub.store_names if topology.stores[n].backend == "rocksdb"}
        for sub in topology.subtopologies()
        if sub.store_names
    }
