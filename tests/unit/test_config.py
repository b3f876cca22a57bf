import pytest

from kstreamy import App, ConfigError
from kstreamy.config import AppConfig


def test_defaults_follow_the_guarantee():
    assert AppConfig.build("a").effective_commit_interval_ms == 5000
    eos = AppConfig.build("a", processing_guarantee="exactly_once")
    assert eos.effective_commit_interval_ms == 100


def test_unknown_keys_and_wrong_types_are_reported_together():
    with pytest.raises(ConfigError) as err:
        App("a", commit_interval=5, poll_batch_size="big", processing_guarantee="twice")
    message = str(err.value)
    assert "unknown setting 'commit_interval' (did you mean commit_interval_ms?)" in message
    assert "poll_batch_size must be int or None, got str 'big'" in message
    assert "processing_guarantee must be one of 'at_least_once', 'exactly_once'" in message


def test_ranges_are_checked():
    with pytest.raises(ConfigError, match="poll_batch_size must be > 0"):
        App("a", poll_batch_size=0)


def test_bad_application_id():
    with pytest.raises(ConfigError, match="application_id 'a b'"):
        App("a b")


def test_librdkafka_properties_pass_through_and_secrets_are_redacted():
    app = App("a", **{"security.protocol": "SASL_SSL", "sasl.password": "hunter2"})
    assert app.config.kafka_config == {"security.protocol": "SASL_SSL", "sasl.password": "hunter2"}
    assert app.config.redacted()["kafka_config"]["sasl.password"] == "***"


def test_bootstrap_from_environment_overrides_code(monkeypatch):
    assert App("a", bootstrap_servers="other:1").config.bootstrap_servers == "other:1"
    monkeypatch.setenv("KSTREAMY_BOOTSTRAP_SERVERS", "broker:1234")
    assert App("a").config.bootstrap_servers == "broker:1234"
    config = App("a", bootstrap_servers="other:1").config
    assert config.bootstrap_servers == "broker:1234"
    assert config.source_of("bootstrap_servers") == "KSTREAMY_BOOTSTRAP_SERVERS"


def test_unknown_librdkafka_property_fails_at_start_naming_it(tmp_path):
    app = App(
        "a", bootstrap_servers="127.0.0.1:1", state_dir=str(tmp_path), **{"no.such.property": "1"}
    )
    app.stream("t").to("u")
    with pytest.raises(ConfigError, match=r"no\.such\.property"):
        app.run(install_signal_handlers=False)


def test_operability_settings_are_checked():
    config = App("a", metrics_port=9100, query_port=8080, log_format="json").config
    assert (config.metrics_port, config.query_port, config.log_format) == (9100, 8080, "json")
    assert App("a").config.metrics_port is None
    with pytest.raises(ConfigError) as err:
        App("a", metrics_port=70000, query_port=-1, log_format="xml")
    message = str(err.value)
    assert "log_format must be one of 'text', 'json'" in message
    with pytest.raises(ConfigError) as err:
        App("a", metrics_port=70000, query_port=-1)
    assert "metrics_port must be a TCP port (1-65535; 0 or None: off), got 70000" in str(err.value)
    assert "query_port must be a TCP port" in str(err.value)
    with pytest.raises(ConfigError, match="metrics_port and query_port must differ"):
        App("a", metrics_port=9100, query_port=9100)
