"""Password hashing, the token secret's sources, and token checks."""

from __future__ import annotations

import boto3
import pytest

from chalicelib import auth, errors, lazy, settings


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


def test_secret_comes_from_an_ssm_secure_string_fetched_once(aws, fresh_secret):
    ssm = boto3.client("ssm")
    ssm.put_parameter(Name="/chat/test/jwt", Value="s" * 48, Type="SecureString")
    fresh_secret.setenv("JWT_SECRET_PARAMETER", "/chat/test/jwt")
    fresh_secret.setenv("JWT_SECRET", "")
    lazy.reset()
    assert auth.signing_secret() == "s" * 48
    ssm.put_parameter(Name="/chat/test/jwt", Value="t" * 48, Type="SecureString", Overwrite=True)
    assert auth.signing_secret() == "s" * 48  # once per container


def test_without_any_secret_tokens_cannot_be_made(fresh_secret):
    fresh_secret.setenv("JWT_SECRET", "")
    fresh_secret.delenv("JWT_SECRET_PARAMETER", raising=False)
    lazy.reset()
    with pytest.raises(RuntimeError, match="JWT_SECRET"):
        auth.issue_token("alice", 0)


def test_a_token_round_trips_to_its_username():
    session = auth.issue_token("Alice", 1_764_000_000)
    assert session.expires_at == "2025-11-25T04:00:00.000Z"
    with pytest.raises(errors.Unauthorized):  # long expired by now
        auth.verify_token(session.token)
    import time

    fresh = auth.issue_token("Alice", int(time.time()))
    assert auth.verify_token(fresh.token) == "Alice"


def test_a_token_whose_subject_is_not_a_string_is_refused():
    import time

    import jwt

    now = int(time.time())
    token = jwt.encode({"sub": 5, "iat": now, "exp": now + 60}, auth.signing_secret())
    with pytest.raises(errors.Unauthorized):
        auth.verify_token(token)
