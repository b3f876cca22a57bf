import io
import json
import logging

import pytest

from kstreamy import ConfigError
from kstreamy.logs import ContextFilter, JsonFormatter, log_format, set_instance, set_task


@pytest.fixture
def capture():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter())
    logger = logging.getLogger("kstreamy.test-logs")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield logger, handler, stream
    finally:
        logger.removeHandler(handler)
        set_instance(None)
        set_task(None)


def test_json_lines_say_which_instance_and_task(capture):
    logger, handler, stream = capture
    handler.setFormatter(JsonFormatter())
    set_instance("inst-1")
    set_task("0_3")
    logger.warning("skipped record %s", "x")
    set_task(None)
    try:
        raise ValueError("boom")
    except ValueError:
        logger.exception("outside any task")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["message"] == "skipped record x"
    assert (first["instance_id"], first["task_id"], first["level"]) == ("inst-1", "0_3", "WARNING")
    assert first["logger"] == "kstreamy.test-logs"
    assert second["task_id"] is None and second["instance_id"] == "inst-1"
    assert "ValueError: boom" in second["exception"]


def test_text_lines_carry_the_same_context(capture):
    logger, handler, stream = capture
    handler.setFormatter(logging.Formatter("%(levelname)s%(where)s: %(message)s"))
    set_instance("inst-2")
    set_task("1_0")
    logger.info("hello")
    assert stream.getvalue().strip() == "INFO [instance=inst-2 task=1_0]: hello"


def test_the_environment_chooses_the_format(monkeypatch):
    assert log_format("text") == "text"
    monkeypatch.setenv("KSTREAMY_LOG_FORMAT", "json")
    assert log_format("text") == "json"
    monkeypatch.setenv("KSTREAMY_LOG_FORMAT", "yaml")
    with pytest.raises(ConfigError, match="log format must be one of text, json, got 'yaml'"):
        log_format("text")
