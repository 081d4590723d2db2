"""`./deploy.sh --rotate-secret`: the phases, run against SSM (moto), verified by the backend."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import boto3
import jwt
import pytest
from moto import mock_aws

from chalicelib import auth, errors, keys, lazy
from infra.tools import rotate_secret
from tests.support.environment import FAKE_AWS

PARAMETER = "/chalice-chat/dev/jwt-secret"
LIFETIME = 12 * 3600
T0 = 1_800_000_000
PUBLISH_TO_SIGN = keys.REFRESH_SECONDS + rotate_secret.MARGIN_SECONDS


@pytest.fixture
def ssm(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """A stage's parameter as Terraform writes it (one bare secret), and the backend reading it."""
    for name, value in FAKE_AWS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("JWT_SECRET_PARAMETER", PARAMETER)
    monkeypatch.setenv("JWT_SECRET", "")
    with mock_aws():
        client = boto3.client("ssm")
        client.put_parameter(Name=PARAMETER, Value="s" * 48, Type="SecureString")
        lazy.reset()
        yield client
    lazy.reset()


def rotate(ssm, now: int) -> str:
    report = rotate_secret.rotate(ssm, PARAMETER, LIFETIME, now=now)
    lazy.reset()  # every warm function has re-read the keys (they do within 5 minutes)
    return report


def stored(ssm) -> dict:
    return json.loads(ssm.get_parameter(Name=PARAMETER, WithDecryption=True)["Parameter"]["Value"])


def token() -> str:
    return auth.issue_token("alice", int(time.time()), "s").token


def kid(signed: str) -> str:
    return jwt.get_unverified_header(signed)["kid"]


def test_a_rotation_never_refuses_a_valid_token_and_ends_with_only_the_new_key(ssm):
    before = token()
    assert "published" in rotate(ssm, T0)
    during = token()
    assert kid(during) == kid(before)  # the new key does not sign yet
    assert auth.verify_token(before).username == "alice"

    assert "can sign after" in rotate(ssm, T0 + PUBLISH_TO_SIGN - 1)  # not yet
    assert kid(token()) == kid(before)
    assert "signs now" in rotate(ssm, T0 + PUBLISH_TO_SIGN)
    after = token()
    assert kid(after) != kid(before)
    for valid in (before, during, after):
        assert auth.verify_token(valid).username == "alice"

    signing_since = T0 + PUBLISH_TO_SIGN
    assert "can go after" in rotate(ssm, signing_since + LIFETIME)  # old tokens may live on
    assert auth.verify_token(before).username == "alice"
    assert "rotation complete" in rotate(ssm, signing_since + LIFETIME + PUBLISH_TO_SIGN)
    assert auth.verify_token(after).username == "alice"
    for old in (before, during):
        with pytest.raises(errors.Unauthorized):
            auth.verify_token(old)
    final = stored(ssm)
    assert list(final["keys"]) == [final["signing"]] == [kid(after)]
    assert "rotation" not in final


def test_a_container_that_has_not_refreshed_still_verifies_new_tokens(ssm):
    rotate(ssm, T0)
    warm = keys.current()  # read during phase 1, cached for up to 5 minutes
    rotate_secret.rotate(ssm, PARAMETER, LIFETIME, now=T0 + PUBLISH_TO_SIGN)
    phase_two = stored(ssm)  # what a refreshed container signs with
    signed_elsewhere = jwt.encode(
        {"sub": "bob", "iat": 1, "exp": int(time.time()) + 60, "sid": "s"},
        phase_two["keys"][phase_two["signing"]],
        headers={"kid": phase_two["signing"]},
    )
    assert keys.current() is warm
    assert auth.verify_token(signed_elsewhere).username == "bob"


def test_a_second_rotation_can_follow_the_first(ssm):
    for now in (T0, T0 + PUBLISH_TO_SIGN, T0 + PUBLISH_TO_SIGN + LIFETIME + PUBLISH_TO_SIGN):
        rotate(ssm, now)
    assert "published" in rotate(ssm, T0 + 3 * LIFETIME)
