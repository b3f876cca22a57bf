"""The command line under arbitrary arguments: exit code 1 or 2 with a message, never a
traceback. Only commands that need no broker are run (help, describe, the offline savepoint
commands); ``--set`` and ``--to-datetime`` parsing is checked through their parsers."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from kstreamy_cli.loading import load_app
from kstreamy_cli.main import cli
from kstreamy_cli.options import overrides
from kstreamy_cli.reset import parse_time
from tests_support.fuzzing import FEW, SOME
from tests_support.savepoints import write_counts_savepoint

APP = "tests_support.savepoints:counts_app"
ARG = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"), max_size=30)
"""What a shell can pass: any text without NUL (argv cannot hold one) or lone surrogates."""
MODULE_SPEC = ARG.map(lambda text: f"no_such_fuzz_module{text}")
"""Never a module that exists: importing arbitrary names could run arbitrary code."""

runner = CliRunner()


def _run(*args: str) -> None:
    result = runner.invoke(cli, list(args), prog_name="kstreamy")
    assert result.exit_code in (0, 1, 2), (args, result.output)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"{args}: traceback for {result.exception!r}") from result.exception
    if result.exit_code:
        assert result.output.strip(), f"{args}: failed without saying why"
        assert "Traceback" not in result.output


@pytest.fixture(scope="module")
def savepoint(tmp_path_factory: pytest.TempPathFactory) -> str:
    return write_counts_savepoint(tmp_path_factory.mktemp("cli"), {"a": 1, "b": 2})


@pytest.mark.parametrize(
    "command",
    [[], ["run"], ["describe"], ["status"], ["reset"], ["topics"], ["savepoint"]]
    + [["savepoint", c] for c in ("create", "list", "inspect", "verify", "query", "export")],
)
def test_every_command_has_help(command: list[str]) -> None:
    result = runner.invoke(cli, [*command, "--help"], prog_name="kstreamy")
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


@SOME
@given(args=st.lists(ARG, max_size=4))
def test_arbitrary_arguments_to_offline_commands_fail_cleanly(args: list[str]) -> None:
    for command in (["savepoint", "inspect"], ["savepoint", "list"], ["describe"]):
        if command == ["describe"] and args:
            args = [f"no_such_fuzz_module{args[0]}", *args[1:]]
        _run(*command, *args)


@SOME
@given(spec=MODULE_SPEC | st.sampled_from(["", ":", ":app", ".x", "..x:y", "os:path", "json"]))
def test_an_application_that_cannot_be_loaded_is_named(spec: str) -> None:
    _run("describe", spec)


@SOME
@given(store=ARG, key=ARG, fmt=ARG)
def test_query_and_export_of_a_savepoint_fail_cleanly(
    savepoint: str, store: str, key: str, fmt: str
) -> None:
    _run("savepoint", "query", savepoint, "--store", store, "--key", key)
    _run("savepoint", "query", savepoint, "--store", "counts", "--key", key, "--app", APP)
    _run("savepoint", "export", savepoint, "--store", store, "--format", fmt)
    _run("savepoint", "verify", savepoint, f"no_such_fuzz_module{key}")


@SOME
@given(path=ARG)
def test_inspect_list_and_verify_of_any_path_fail_cleanly(tmp_path: Path, path: str) -> None:
    for command in ("inspect", "list", "verify"):
        _run("savepoint", command, str(tmp_path / path.lstrip("/")))
        _run("savepoint", command, path)


@FEW
@given(sets=st.lists(ARG, max_size=3))
def test_set_items_are_parsed_or_refused_with_a_message(sets: list[str]) -> None:
    try:
        load_app(APP, overrides(sets))
    except typer.BadParameter as exc:
        assert "--set" in str(exc)
    except typer.Exit as exc:  # a setting was refused: printed, exit code 1
        assert exc.exit_code == 1


@FEW
@given(
    key=st.sampled_from(["state_dir", "commit_interval_ms", "on_deserialization_error", "x"]),
    value=ARG,
)
def test_setting_values_are_parsed_or_refused_with_a_message(key: str, value: str) -> None:
    try:
        load_app(APP, overrides([f"{key}={value}"]))
    except typer.Exit as exc:
        assert exc.exit_code == 1


@FEW
@given(text=ARG)
def test_to_datetime_is_parsed_or_refused_with_a_message(text: str) -> None:
    try:
        assert isinstance(parse_time(text), int)
    except typer.BadParameter as exc:
        assert "ISO 8601" in str(exc)
