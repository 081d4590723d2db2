"""POST /signup, POST /login, GET /health through chalice.test.Client (PROTOCOL.md, REST)."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import jwt
import pytest

from chalicelib import auth, settings

JSON = {"Content-Type": "application/json"}


def post(client, path, body, headers=JSON):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.http.post(path, headers=headers, body=raw)


def signup(client, username="alice", password="correct horse"):
    return post(client, "/signup", {"username": username, "password": password})


def login(client, username="alice", password="correct horse"):
    return post(client, "/login", {"username": username, "password": password})


def stored_users(aws):
    return aws.scan(TableName=settings.get().users_table)["Items"]


def test_health_answers_ok(client):
    response = client.http.get("/health")
    assert response.status_code == 200
    assert response.json_body == {"status": "ok"}


def test_signup_returns_201_with_a_token_for_the_name_as_given(client):
    response = signup(client, "Alice_1.x-y")
    assert response.status_code == 201
    body = response.json_body
    assert body["username"] == "Alice_1.x-y"
    claims = jwt.decode(body["token"], auth.signing_secret(), algorithms=["HS256"])
    assert claims["sub"] == "Alice_1.x-y"
    assert claims["exp"] - claims["iat"] == settings.get().token_lifetime_seconds
    expected = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(claims["exp"]))
    assert body["expiresAt"] == expected + ".000Z"


def test_password_is_stored_only_as_a_bcrypt_hash(client, aws):
    signup(client, "alice", "correct horse")
    (item,) = stored_users(aws)
    assert item["password_hash"]["S"].startswith("$2b$")
    assert "correct horse" not in json.dumps(item)


def test_login_returns_200_with_a_token(client):
    signup(client)
    response = login(client)
    assert response.status_code == 200
    assert response.json_body["username"] == "alice"
    assert auth.verify_token(response.json_body["token"]) == "alice"


def test_login_in_other_case_gets_the_spelling_given_at_signup(client):
    signup(client, "Alice")
    response = login(client, "aLICE")
    assert response.status_code == 200
    assert response.json_body["username"] == "Alice"


def test_duplicate_name_in_other_case_is_409_and_stores_nothing(client, aws):
    assert signup(client, "alice").status_code == 201
    response = signup(client, "ALICE", "another password")
    assert response.status_code == 409
    assert response.json_body["Code"] == "ConflictError"
    assert len(stored_users(aws)) == 1


def test_sixteen_concurrent_signups_of_one_name_give_exactly_one_201(client, aws):
    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(lambda i: signup(client, "racer", f"password-{i}").status_code,
                                 range(16)))
    assert sorted(statuses) == [201] + [409] * 15
    assert len(stored_users(aws)) == 1


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (b"not json", JSON),
        (b"", JSON),
        (b"[1, 2]", JSON),
        (b'"alice"', JSON),
        (b"null", JSON),
    ],
    ids=["not-json", "empty", "array", "string", "null"],
)
def test_bodies_that_are_not_a_json_object_are_400(client, aws, body, headers):
    response = post(client, "/signup", body, headers)
    assert response.status_code == 400
    assert response.json_body["Code"] == "BadRequestError"
    assert stored_users(aws) == []


def test_a_body_that_is_not_declared_json_is_415_and_stores_nothing(client, aws):
    body = {"username": "alice", "password": "x" * 8}
    response = post(client, "/signup", body, {"Content-Type": "text/plain"})
    assert response.status_code == 415
    assert stored_users(aws) == []


BAD_CREDENTIALS = {
    "missing-username": {"password": "password1"},
    "missing-password": {"username": "alice"},
    "username-number": {"username": 12345, "password": "password1"},
    "password-number": {"username": "alice", "password": 12345678},
    "password-null": {"username": "alice", "password": None},
    "username-list": {"username": ["alice"], "password": "password1"},
    "username-too-short": {"username": "ab", "password": "password1"},
    "username-too-long": {"username": "a" * 33, "password": "password1"},
    "username-with-space": {"username": "al ice", "password": "password1"},
    "username-non-ascii": {"username": "alicé", "password": "password1"},
    "username-fullwidth-digit": {"username": "alice\uff11", "password": "password1"},
    "username-trailing-newline": {"username": "alice\n", "password": "password1"},
    "username-with-slash": {"username": "al/ice", "password": "password1"},
    "password-7": {"username": "alice", "password": "x" * 7},
    "password-257": {"username": "alice", "password": "x" * 257},
    "password-empty": {"username": "alice", "password": ""},
}


@pytest.mark.parametrize("path", ["/signup", "/login"])
@pytest.mark.parametrize("body", BAD_CREDENTIALS.values(), ids=BAD_CREDENTIALS.keys())
def test_invalid_credentials_are_400_and_store_nothing(client, aws, path, body):
    response = post(client, path, body)
    assert response.status_code == 400
    assert response.json_body["Code"] == "BadRequestError"
    assert response.json_body["Message"]
    assert stored_users(aws) == []


@pytest.mark.parametrize("username", ["abc", "a" * 32, "A-b_c.9"])
def test_usernames_at_the_limits_are_accepted(client, username):
    assert signup(client, username).status_code == 201


@pytest.mark.parametrize("length", [8, 256])
def test_passwords_of_8_and_256_characters_are_accepted(client, length):
    password = "p" * length
    assert signup(client, "alice", password).status_code == 201
    assert login(client, "alice", password).status_code == 200


def test_passwords_sharing_their_first_72_bytes_are_different(client):
    shared = "s" * 72
    assert signup(client, "alice", shared + "A").status_code == 201
    assert login(client, "alice", shared + "B").status_code == 401
    assert login(client, "alice", shared + "A").status_code == 200


def test_multibyte_passwords_count_characters_not_bytes(client):
    password = "ü" * 200  # 400 bytes, 200 characters
    assert signup(client, "alice", password).status_code == 201
    assert login(client, "alice", "ü" * 199 + "u").status_code == 401
    assert login(client, "alice", password).status_code == 200


def test_wrong_password_and_unknown_user_get_the_same_401(client):
    signup(client)
    wrong = login(client, "alice", "wrong password")
    unknown = login(client, "nobody", "wrong password")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json_body == unknown.json_body
    assert wrong.json_body["Code"] == "UnauthorizedError"


def test_unknown_user_still_costs_one_bcrypt_check(client, monkeypatch):
    checks = []
    real = auth.check_password
    monkeypatch.setattr(auth, "check_password", lambda p, h: checks.append(h) or real(p, h))
    login(client, "nobody", "some password")
    assert len(checks) == 1
    assert checks[0].startswith(f"$2b${settings.get().bcrypt_rounds:02d}$")


def test_five_failures_then_429_even_for_the_right_password(client):
    signup(client)
    for _ in range(settings.get().login_max_failures):
        assert login(client, "alice", "wrong password").status_code == 401
    response = login(client, "alice", "correct horse")
    assert response.status_code == 429
    assert response.json_body["Code"] == "TooManyRequestsError"


def test_throttling_counts_the_name_in_any_case_and_unknown_names_too(client):
    for i in range(settings.get().login_max_failures):
        assert login(client, "Ghost" if i % 2 else "ghost", "wrong password").status_code == 401
    assert login(client, "GHOST", "wrong password").status_code == 429


def test_throttling_ends_when_the_window_passes(client, monkeypatch):
    signup(client)
    start = time.time()
    for _ in range(settings.get().login_max_failures):
        login(client, "alice", "wrong password")
    assert login(client).status_code == 429
    later = start + settings.get().login_window_seconds + 1
    monkeypatch.setattr(time, "time", lambda: later)
    assert login(client).status_code == 200


def test_a_success_before_the_limit_clears_the_failures(client):
    signup(client)
    for _ in range(settings.get().login_max_failures - 1):
        login(client, "alice", "wrong password")
    assert login(client).status_code == 200
    for _ in range(settings.get().login_max_failures - 1):
        assert login(client, "alice", "wrong password").status_code == 401
    assert login(client).status_code == 200


def test_cors_headers_answer_the_configured_origin(client):
    response = client.http.get("/health")
    assert response.headers["Access-Control-Allow-Origin"] == settings.get().cors_origin
