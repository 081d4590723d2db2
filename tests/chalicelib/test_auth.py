"""Password hashing, the token secret's sources, and token checks."""

from __future__ import annotations

import boto3
import jwt
import pytest

from chalicelib import auth, clock, errors, keys, lazy, settings
from chalicelib.settings import LIMITS


@pytest.fixture
def fresh_secret(monkeypatch):
    lazy.reset()
    yield monkeypatch
    lazy.reset()


def test_hash_uses_the_configured_cost(monkeypatch):
    monkeypatch.setenv("BCRYPT_ROUNDS", "5")
    lazy.reset()
    try:
        assert auth.hash_password("password1").startswith("$2b$05$")
    finally:
        lazy.reset()


def test_default_cost_is_12():
    assert settings.load({}).bcrypt_rounds == 12


def test_every_character_of_a_long_password_counts():
    long = "x" * 255
    hashed = auth.hash_password(long + "a")
    assert auth.check_password(long + "a", hashed)
    assert not auth.check_password(long + "b", hashed)


def use_parameter(monkeypatch, value: str, name: str = "/chat/test/jwt"):
    boto3.client("ssm").put_parameter(Name=name, Value=value, Type="SecureString", Overwrite=True)
    monkeypatch.setenv("JWT_SECRET_PARAMETER", name)
    monkeypatch.setenv("JWT_SECRET", "")
    lazy.reset()


def test_keys_come_from_an_ssm_secure_string_kept_until_the_refresh_interval(aws, fresh_secret):
    use_parameter(fresh_secret, "s" * 48)
    assert keys.current().keys == {keys.key_id("s" * 48): "s" * 48}
    boto3.client("ssm").put_parameter(
        Name="/chat/test/jwt", Value="t" * 48, Type="SecureString", Overwrite=True
    )
    assert keys.current().keys == {keys.key_id("s" * 48): "s" * 48}  # still cached
    assert keys.current.ttl_seconds == LIMITS.signing_keys_refresh_seconds == 300


def test_without_any_secret_tokens_cannot_be_made(fresh_secret):
    fresh_secret.setenv("JWT_SECRET", "")
    fresh_secret.delenv("JWT_SECRET_PARAMETER", raising=False)
    lazy.reset()
    with pytest.raises(RuntimeError, match="JWT_SECRET"):
        auth.issue_token("alice", 0, "s0")


def test_a_token_round_trips_to_its_claims():
    session = auth.issue_token("Alice", 1_764_000_000, "s0")
    assert session.expires_at == "2025-11-24T16:15:00.000Z"  # 15 minutes
    with pytest.raises(errors.Unauthorized):  # long expired by now
        auth.verify_token(session.token)
    fresh = auth.issue_token("Alice", clock.now_s(), "s3")
    claims = auth.verify_token(fresh.token)
    assert (claims.username, claims.session_id) == ("Alice", "s3")
    assert jwt.get_unverified_header(fresh.token)["kid"] == keys.current().signing


def test_a_token_whose_subject_is_not_a_string_is_refused():
    now = clock.now_s()
    key_set = keys.current()
    token = jwt.encode({"sub": 5, "iat": now, "exp": now + 60}, key_set.keys[key_set.signing],
                       headers={"kid": key_set.signing})
    with pytest.raises(errors.Unauthorized):
        auth.verify_token(token)


def test_a_token_naming_an_unknown_key_is_refused():
    now = clock.now_s()
    key_set = keys.current()
    token = jwt.encode({"sub": "alice", "iat": now, "exp": now + 60},
                       key_set.keys[key_set.signing], headers={"kid": "k-unknown"})
    with pytest.raises(errors.Unauthorized):
        auth.verify_token(token)


def test_a_token_without_a_key_id_is_verified_by_any_accepted_key():
    now = clock.now_s()
    key_set = keys.current()
    token = jwt.encode({"sub": "alice", "iat": now, "exp": now + 60, "sid": "s1"},
                       key_set.keys[key_set.signing])
    assert auth.verify_token(token).session_id == "s1"


def test_a_token_from_before_sessions_is_refused():
    # Version 2 tokens (no `sid`) lived 12 hours and could be refreshed forever.
    now = clock.now_s()
    key_set = keys.current()
    token = jwt.encode({"sub": "alice", "iat": now, "exp": now + 60, "ver": 0},
                       key_set.keys[key_set.signing], headers={"kid": key_set.signing})
    with pytest.raises(errors.Unauthorized):
        auth.verify_token(token)


# ------------------------------------------------------------- rotation phases

OLD, NEW = "o" * 48, "n" * 48


def key_set(signing: str, *secrets: str) -> str:
    return keys.KeySet(keys.key_id(signing), {keys.key_id(s): s for s in secrets}).to_json()


def test_rotation_never_refuses_a_valid_token_and_drops_the_old_key_at_the_end(aws, fresh_secret):
    use_parameter(fresh_secret, OLD)
    before = auth.issue_token("alice", clock.now_s(), "s0").token

    use_parameter(fresh_secret, key_set(OLD, OLD, NEW))  # phase 1: NEW accepted, OLD signs
    during = auth.issue_token("alice", clock.now_s(), "s0").token
    assert jwt.get_unverified_header(during)["kid"] == keys.key_id(OLD)
    assert auth.verify_token(before).username == "alice"

    use_parameter(fresh_secret, key_set(NEW, OLD, NEW))  # phase 2: NEW signs
    after = auth.issue_token("alice", clock.now_s(), "s0").token
    assert jwt.get_unverified_header(after)["kid"] == keys.key_id(NEW)
    for token in (before, during, after):
        assert auth.verify_token(token).username == "alice"

    use_parameter(fresh_secret, key_set(NEW, NEW))  # phase 3: OLD dropped
    assert auth.verify_token(after).username == "alice"
    for token in (before, during):
        with pytest.raises(errors.Unauthorized):
            auth.verify_token(token)


def test_a_container_that_read_phase_one_verifies_tokens_signed_in_phase_two(aws, fresh_secret):
    use_parameter(fresh_secret, key_set(OLD, OLD, NEW))
    warm = keys.current()  # a warm function's cached set, from phase 1
    claims = {"sub": "bob", "iat": 1, "exp": clock.now_s() + 60, "sid": "s"}
    signed_later = jwt.encode(claims, NEW, headers={"kid": keys.key_id(NEW)})
    assert keys.current() is warm
    assert auth.verify_token(signed_later).username == "bob"


@pytest.mark.parametrize("value", ["", "{}", '{"signing": "a", "keys": {"b": "x"}}',
                                   '{"signing": "a", "keys": {"a": ""}}', "{not json"])
def test_a_malformed_key_set_is_refused_loudly(value):
    with pytest.raises(ValueError):
        keys.parse(value)
