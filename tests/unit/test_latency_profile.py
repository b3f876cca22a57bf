"""The latency profile sets commit interval, linger.ms and batch size together; explicit
settings, wherever they come from, win."""

import pytest

from kstreamy import App, ConfigError
from kstreamy.config import LATENCY_PROFILES, AppConfig
from kstreamy.kafka.clients import producer_settings


def _linger(config: AppConfig) -> object:
    return producer_settings(config).get("linger.ms")


def test_balanced_is_the_default():
    config = AppConfig.build("a")
    assert config.latency_profile == "balanced"
    assert config.effective_commit_interval_ms == 5000
    assert config.effective_poll_batch_size == 2000
    assert _linger(config) == 5


@pytest.mark.parametrize("profile", sorted(LATENCY_PROFILES))
def test_a_profile_sets_its_values_together(profile):
    expected = LATENCY_PROFILES[profile]
    config = AppConfig.build("a", latency_profile=profile)
    assert config.effective_commit_interval_ms == expected.commit_interval_ms
    assert config.effective_poll_batch_size == expected.poll_batch_size
    assert _linger(config) == expected.linger_ms


def test_exactly_once_keeps_its_commit_interval_in_every_profile():
    for profile in LATENCY_PROFILES:
        config = AppConfig.build("a", latency_profile=profile, processing_guarantee="exactly_once")
        assert config.effective_commit_interval_ms == 100


def test_explicit_settings_in_code_win_over_the_profile():
    config = AppConfig.build(
        "a",
        latency_profile="throughput",
        commit_interval_ms=2000,
        poll_batch_size=100,
        producer_config={"linger.ms": 7},
    )
    assert config.effective_commit_interval_ms == 2000
    assert config.effective_poll_batch_size == 100
    assert _linger(config) == 7
    eos = AppConfig.build("a", processing_guarantee="exactly_once", commit_interval_ms=50)
    assert eos.effective_commit_interval_ms == 50


def test_linger_given_for_every_client_or_by_its_other_name_wins():
    assert _linger(AppConfig.build("a", **{"linger.ms": 20})) == 20
    assert _linger(AppConfig.build("a", kafka_config={"linger.ms": 30})) == 30
    settings = producer_settings(
        AppConfig.build("a", producer_config={"queue.buffering.max.ms": 40})
    )
    assert "linger.ms" not in settings
    assert settings["queue.buffering.max.ms"] == 40


def test_profile_from_the_environment_and_set_layers(monkeypatch):
    monkeypatch.setenv("KSTREAMY_LATENCY_PROFILE", "low")
    config = App("a", latency_profile="throughput", poll_batch_size=300).config
    assert config.latency_profile == "low"
    assert config.source_of("latency_profile") == "KSTREAMY_LATENCY_PROFILE"
    assert config.effective_commit_interval_ms == 1000
    assert config.effective_poll_batch_size == 300  # given in code: the profile does not touch it
    assert _linger(config) == 0
    overridden = config.with_overrides({"latency_profile": "throughput", "linger.ms": "12"})
    assert overridden.latency_profile == "throughput"
    assert overridden.effective_commit_interval_ms == 30000
    assert overridden.effective_poll_batch_size == 300
    assert _linger(overridden) == "12"
    back_to_profile = overridden.with_overrides({"poll_batch_size": "none"})
    assert back_to_profile.effective_poll_batch_size == 5000


def test_an_unknown_profile_is_rejected_with_the_choices():
    with pytest.raises(ConfigError, match="latency_profile must be one of 'low', 'balanced'"):
        App("a", latency_profile="fast")
    with pytest.raises(ConfigError, match="poll_batch_size must be > 0"):
        App("a", poll_batch_size=-1)
