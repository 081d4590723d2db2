"""Settings come from the environment, with defaults from limits.json and tables.json."""

from __future__ import annotations

import dataclasses
import json

import pytest

from chalicelib import settings


def test_defaults_come_from_the_shared_files():
    loaded = settings.load({})
    assert loaded.rate_limit_writes == settings.LIMITS.rate_limit_writes
    assert loaded.rate_limit_reads == settings.LIMITS.rate_limit_reads
    assert loaded.login_failures_per_user_ip == settings.LIMITS.login_failures_per_user_ip
    assert loaded.token_lifetime_seconds == 15 * 60  # access tokens (PROTOCOL v3)
    assert loaded.session_lifetime_seconds == 30 * 86400
    assert loaded.bcrypt_rounds == 12
    assert loaded.messages_table == settings.TABLES["messages"]["default_name"]
    assert loaded.room_index == settings.TABLES["connections"]["global_secondary_indexes"][0][
        "name"]


def test_environment_overrides_names_and_limits():
    loaded = settings.load({"MESSAGES_TABLE": "prod-messages", "RATE_LIMIT_READS": "0"})
    assert loaded.messages_table == "prod-messages"
    assert loaded.rate_limit_reads == 0


@pytest.mark.parametrize(("name", "value"), [("BCRYPT_ROUNDS", "3"), ("FANOUT_THREADS", "0"),
                                             ("RATE_LIMIT_WRITES", "-1"),
                                             ("TOKEN_LIFETIME_SECONDS", "soon"),
                                             ("TRACING", "yes"),
                                             ("POWERTOOLS_LOGGER_SAMPLE_RATE", "1.5"),
                                             ("POWERTOOLS_LOGGER_SAMPLE_RATE", "often")])
def test_nonsense_settings_fail_at_start_up(name, value):
    with pytest.raises(ValueError):
        settings.load({name: value})


def test_tracing_and_debug_sampling_are_off_unless_set():
    assert settings.load({}).tracing is False
    assert settings.load({}).log_sample_rate == 0
    assert settings.load({"TRACING": "On"}).tracing is True
    assert settings.load({"POWERTOOLS_LOGGER_SAMPLE_RATE": "0.1"}).log_sample_rate == 0.1


def test_the_stream_arn_is_concrete_even_without_a_table():
    assert settings.load({}).messages_stream_arn.startswith("arn:aws:dynamodb:")


def test_every_setting_names_its_variable_and_reads_it():
    kinds = {
        "str": "x-value", "int": "7", "frozenset[str]": "Ann, bo", "bool": "on", "float": "0.25",
    }
    environment, expected = {}, {}
    for field in dataclasses.fields(settings.Settings):
        if "env" not in field.metadata:
            continue
        raw = kinds[str(field.type)]
        environment[field.metadata["env"]] = raw
        expected[field.name] = {
            "x-value": raw, "7": 7, "Ann, bo": frozenset({"ann", "bo"}), "on": True, "0.25": 0.25,
        }[raw]
    assert len(expected) == len(set(environment)) > 30  # one variable per setting
    loaded = settings.load(environment)
    assert {name: getattr(loaded, name) for name in expected} == expected


def test_limits_are_typed_attributes_of_the_one_json_file():
    raw = json.loads((settings.HERE / "limits.json").read_text())
    assert settings.LIMITS.text_max == raw["text_max"]
    assert settings.LIMITS.room_pattern == raw["room_pattern"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.LIMITS.text_max = 1  # type: ignore[misc]


@pytest.mark.parametrize("change", [
    lambda limits: limits.pop("text_max"),
    lambda limits: limits.update(text_maxx=1),
    lambda limits: limits.update(text_max="4000"),
])
def test_a_limits_file_that_disagrees_with_limits_is_refused(tmp_path, change):
    limits = json.loads((settings.HERE / "limits.json").read_text())
    change(limits)
    path = tmp_path / "limits.json"
    path.write_text(json.dumps(limits))
    with pytest.raises(ValueError):
        settings.Limits.read(path)
