"""Settings from the environment and the command line: parsed, validated, and in the order an
operator expects (command line > environment > code > defaults)."""

import pytest

from kstreamy import App, ConfigError
from kstreamy.config_sources import parse_assignments, parse_text


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch):
    import os

    for name in list(os.environ):
        if name.startswith("KSTREAMY_") and name != "KSTREAMY_LOG_LEVEL":
            monkeypatch.delenv(name)


def test_environment_overrides_code_and_is_parsed_to_the_setting_type(monkeypatch):
    monkeypatch.setenv("KSTREAMY_ON_DESERIALIZATION_ERROR", "skip")
    monkeypatch.setenv("KSTREAMY_POLL_BATCH_SIZE", "500")
    monkeypatch.setenv("KSTREAMY_COMMIT_INTERVAL_MS", "none")
    monkeypatch.setenv("KSTREAMY_CONSUMER_CONFIG", '{"fetch.min.bytes": 1}')
    config = App("a", on_deserialization_error="fail", commit_interval_ms=7).config
    assert config.on_deserialization_error == "skip"
    assert config.poll_batch_size == 500
    assert config.commit_interval_ms is None
    assert config.consumer_config == {"fetch.min.bytes": 1}
    assert config.source_of("poll_batch_size") == "KSTREAMY_POLL_BATCH_SIZE"
    assert config.source_of("state_dir") == "default"


def test_command_line_overrides_environment_and_code(monkeypatch):
    monkeypatch.setenv("KSTREAMY_STATE_DIR", "/from/env")
    config = App("a", state_dir="/from/code", poll_timeout_ms=5).config
    overridden = config.with_overrides({"state_dir": "/tmp/wc-2", "on_processing_error": "skip"})
    assert overridden.state_dir == "/tmp/wc-2"
    assert overridden.on_processing_error == "skip"
    assert overridden.poll_timeout_ms == 5  # untouched settings keep their values
    assert overridden.source_of("state_dir") == "--set"
    assert config.state_dir == "/from/env"  # the original is not changed


def test_bad_values_name_their_source_and_are_reported_together(monkeypatch):
    monkeypatch.setenv("KSTREAMY_POLL_BATCH_SIZE", "many")
    monkeypatch.setenv("KSTREAMY_ON_PROCESSING_ERROR", "ignore")
    monkeypatch.setenv("KSTREAMY_ON_DESERIALISATION_ERROR", "skip")
    with pytest.raises(ConfigError) as err:
        App("a")
    message = str(err.value)
    expected = "KSTREAMY_POLL_BATCH_SIZE: poll_batch_size must be an integer or none, got 'many'"
    assert expected in message
    assert "KSTREAMY_ON_PROCESSING_ERROR: on_processing_error must be one of" in message
    assert (
        "KSTREAMY_ON_DESERIALISATION_ERROR names no setting "
        "(did you mean KSTREAMY_ON_DESERIALIZATION_ERROR?)" in message
    )


def test_command_line_unknown_keys_get_suggestions_and_ranges_are_checked():
    config = App("a").config
    with pytest.raises(ConfigError) as err:
        config.with_overrides({"state_directory": "x", "poll_batch_size": "0"})
    message = str(err.value)
    assert "unknown setting 'state_directory' (did you mean state_dir" in message
    with pytest.raises(ConfigError, match="--set: poll_batch_size must be > 0, got 0"):
        config.with_overrides({"poll_batch_size": "0"})


def test_librdkafka_properties_from_the_command_line_and_environment(monkeypatch):
    monkeypatch.setenv("KSTREAMY_KAFKA_SASL_PASSWORD", "from-env")
    config = App("a", **{"sasl.password": "in-code", "security.protocol": "SSL"}).config
    assert config.kafka_config["sasl.password"] == "from-env"
    overridden = config.with_overrides({"security.protocol": "SASL_SSL"})
    assert overridden.kafka_config == {"sasl.password": "from-env", "security.protocol": "SASL_SSL"}


def test_unrelated_and_empty_variables_are_ignored(monkeypatch, caplog):
    monkeypatch.setenv("KSTREAMY_DEMO_SUFFIX", "-x")
    monkeypatch.setenv("KSTREAMY_CLUSTER_BOOTSTRAP", "k:9092")
    monkeypatch.setenv("KSTREAMY_STATE_DIR", "")
    assert App("a", state_dir="/code").config.state_dir == "/code"
    assert "names no kstreamy setting" not in caplog.text


def test_a_variable_that_names_no_setting_is_not_ignored_without_a_word(monkeypatch, caplog):
    monkeypatch.setenv("KSTREAMY_NUM_STANDBY_REPLICAS", "1")
    assert App("a").config.application_id == "a"
    assert "KSTREAMY_NUM_STANDBY_REPLICAS names no kstreamy setting: ignored" in caplog.text


def test_application_id_is_not_a_setting():
    with pytest.raises(ConfigError, match="the application id is App\\(\\)'s first argument"):
        App("a").config.with_overrides({"application_id": "b"})


@pytest.mark.parametrize(
    "annotation, text, expected",
    [
        ("int", "1_000", 1000),
        ("int | None", "None", None),
        ("str | None", "", None),
        ("str", "", ""),
        ("ErrorPolicy", "skip", "skip"),
        ("dict[str, Any]", '{"a": 1}', {"a": 1}),
    ],
)
def test_text_is_parsed_to_the_annotated_type(annotation, text, expected):
    assert parse_text("s", text, annotation) == expected


def test_text_that_does_not_fit_is_an_error():
    with pytest.raises(ValueError, match="s must be a JSON object"):
        parse_text("s", "[1]", "dict[str, Any]")


def test_assignments_split_at_the_first_equals_sign():
    assert parse_assignments(["a=1", "sasl.jaas=x=y", "b="]) == {
        "a": "1",
        "sasl.jaas": "x=y",
        "b": "",
    }
    with pytest.raises(ValueError, match="--set expects KEY=VALUE, got 'oops'"):
        parse_assignments(["oops"])
