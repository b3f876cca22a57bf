"""Whether a topology can take a savepoint's state: stores by name, formats must match."""

from __future__ import annotations

import pytest

from kstreamy import App
from kstreamy.savepoint import Savepoint, SavepointCompatibilityError
from kstreamy.savepoint.topology_info import check_restore
from tests_support.savepoints import counts_app, write_counts_savepoint


def _savepoint(tmp_path) -> Savepoint:
    return Savepoint.open(write_counts_savepoint(tmp_path, {"a": 1, "d": 2}))


def test_the_same_code_restores_every_store(tmp_path):
    mapping = check_restore(_savepoint(tmp_path).manifest, counts_app().topology)
    assert mapping.restored == {"counts": 0}
    assert mapping.new_stores == mapping.dropped_stores == []
    assert mapping.task_of == {"0_0": "0_0", "0_1": "0_1"}


def test_a_new_stateless_step_and_a_new_store_are_fine(tmp_path):
    app = App("sp-app")
    stream = app.stream("in", key_serde="str", value_serde="json").filter(
        lambda k, v: True, name="new-step"
    )
    stream.group_by_key().count(store="counts").to("out", value_serde="int")
    stream.group_by_key().count(store="more").to("out2", value_serde="int")
    mapping = check_restore(_savepoint(tmp_path).manifest, app.topology)
    assert mapping.restored == {"counts": 0}
    assert mapping.new_stores == ["more"]


def test_a_store_the_code_lacks_needs_allow_non_restored_state(tmp_path):
    app = App("sp-app")
    app.stream("in", key_serde="str", value_serde="json").to("out")
    manifest = _savepoint(tmp_path).manifest
    with pytest.raises(SavepointCompatibilityError, match="--allow-non-restored-state"):
        check_restore(manifest, app.topology)
    mapping = check_restore(manifest, app.topology, allow_non_restored_state=True)
    assert mapping.dropped_stores == ["counts"]


def test_an_incompatible_store_format_names_the_store(tmp_path):
    manifest = _savepoint(tmp_path).manifest
    with pytest.raises(
        SavepointCompatibilityError,
        match="store 'counts' holds values written with serde 'int' but the application "
        "reads them with 'json'",
    ):
        check_restore(manifest, counts_app(value_serde="json").topology)
