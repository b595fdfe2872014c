"""Every setting lives in `Config`; workers get theirs from it, not from the environment."""

from __future__ import annotations

from datetime import timedelta

import pytest

from backend.config import Config, ConfigError, TestConfig
from backend.dispatch.escalation import EscalationPolicy


def test_environment_becomes_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ESCALATION_ACCEPT_MINUTES", "2.5")
    monkeypatch.setenv("ALERT_WEBHOOK_URL", "https://hooks.example/alerts")
    monkeypatch.setenv("MQTT_VERSION", "4")
    monkeypatch.setenv("FIELDLINE_SIMULATE", "3")
    monkeypatch.delenv("INGEST_CLIENT_ID", raising=False)
    config = TestConfig()
    assert config.ESCALATION_ACCEPT_MINUTES == 2.5 and config.MQTT_VERSION == 4
    assert config.SIMULATE == 3 and config.INGEST_CLIENT_ID is None
    policy = EscalationPolicy.from_config(config)
    assert policy.accept_within == timedelta(minutes=2.5)
    assert policy.webhook_url == "https://hooks.example/alerts"


@pytest.mark.parametrize(
    ("name", "value", "kind"),
    [
        ("LOGIN_MAX_FAILURES", "five", "a whole number"),
        ("LIVE_ROUND_SECONDS", "0,2", "a number"),
        ("JWT_ACCESS_MINUTES", "1.5", "minutes"),
        ("MQTT_VERSION", "v5", "a whole number"),
        ("RISK_ABC_A_SHARE", "2%", "a decimal number"),
        ("RISK_KEY_REVENUE", "NaN", "a decimal number"),
    ],
)
def test_a_value_a_setting_cannot_take_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, kind: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as refused:
        Config(SECRET_KEY="x" * 40)
    assert str(refused.value) == f"{name}={value!r} is not {kind}"


def test_a_variable_set_but_empty_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LOGIN_MAX_FAILURES", "JWT_REFRESH_DAYS", "MQTT_VERSION", "LOG_LEVEL"):
        monkeypatch.setenv(name, "")
    config = Config(SECRET_KEY="x" * 40)
    assert (config.LOGIN_MAX_FAILURES, config.MQTT_VERSION, config.LOG_LEVEL) == (5, None, "INFO")
    assert config.JWT_REFRESH_TOKEN_EXPIRES == timedelta(days=14)


def test_a_config_is_passed_not_read_back_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = Config(SECRET_KEY="x" * 40, ESCALATION_FURTHER_MINUTES=7, ALERT_WEBHOOK_URL=None)
    monkeypatch.setenv("ESCALATION_FURTHER_MINUTES", "99")  # too late: the config is made
    policy = EscalationPolicy.from_config(config)
    assert policy.escalate_after == timedelta(minutes=7) and policy.webhook_url is None


def test_fast_hashing_is_a_setting_the_app_applies(monkeypatch: pytest.MonkeyPatch) -> None:
    """FIELDLINE_FAST_HASH reaches the hasher through Config, not by passwords.py reading it."""
    from argon2 import extract_parameters

    from backend.app import create_app
    from backend.auth import passwords

    monkeypatch.setenv("FIELDLINE_FAST_HASH", "1")
    strong = Config(SECRET_KEY="x" * 40, FAST_HASH=False)
    assert Config(SECRET_KEY="x" * 40).FAST_HASH and TestConfig().FAST_HASH and not strong.FAST_HASH
    try:
        passwords.configure(fast=False)
        assert extract_parameters(passwords.hash_secret("s")).memory_cost > 1024
        create_app(TestConfig(DATABASE_URL="sqlite://"))  # the test profile: cheap hashes
        fast = passwords.hash_secret("s")
        assert extract_parameters(fast).memory_cost == 1024
        passwords.configure(fast=False)
        assert passwords.verify_secret(fast, "s")  # a hash names its own parameters
    finally:
        passwords.configure(fast=True)
