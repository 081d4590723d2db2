"""POST /signup, POST /login, GET /health through chalice.test.Client (PROTOCOL.md, REST)."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import jwt
import pytest
from chalice.local import LambdaEventConverter

from chalicelib import auth, clock, keys, lazy, settings

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
    key_set = keys.current()
    claims = jwt.decode(body["token"], key_set.keys[key_set.signing], algorithms=["HS256"])
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
    assert auth.verify_token(response.json_body["token"]).username == "alice"


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


PER_USER_IP = settings.LIMITS.login_failures_per_user_ip


@pytest.fixture
def remote_ip(monkeypatch):
    """Requests come from a public address (chalice's local events say 127.0.0.1)."""
    def use(address: str) -> None:
        monkeypatch.setattr(LambdaEventConverter, "LOCAL_SOURCE_IP", address)

    use("203.0.113.7")
    return use


def test_five_failures_then_429_with_retry_after_even_for_the_right_password(client):
    signup(client)
    for _ in range(PER_USER_IP):
        assert login(client, "alice", "wrong password").status_code == 401
    response = login(client, "alice", "correct horse")
    assert response.status_code == 429
    assert response.json_body["Code"] == "TooManyRequestsError"
    retry_after = int(response.headers["Retry-After"])
    assert 0 < retry_after <= settings.get().login_window_seconds


def test_throttling_counts_the_name_in_any_case_and_unknown_names_too(client):
    for i in range(PER_USER_IP):
        assert login(client, "Ghost" if i % 2 else "ghost", "wrong password").status_code == 401
    assert login(client, "GHOST", "wrong password").status_code == 429


def test_an_attempt_is_counted_before_its_password_is_checked(client, aws, monkeypatch):
    # Parallel guesses cannot all pass a read: each has reserved its place in the
    # window before bcrypt runs (20 parallel ones against `chatapp serve`:
    # tests/chatapp/test_serve_accounts.py; moto in-process does not lock).
    signup(client)
    counted = []

    def check(password, password_hash):
        key = {"guard_key": {"S": "login#user#alice#ip#127.0.0.1"}}
        item = aws.get_item(TableName=settings.get().guards_table, Key=key)["Item"]
        counted.append(int(item["hits"]["N"]))
        return False

    monkeypatch.setattr(auth, "check_password", check)
    login(client, "alice", "wrong guess")
    login(client, "alice", "wrong again")
    assert counted == [1, 2]


def test_a_name_guessed_from_one_address_can_still_log_in_from_another(client, remote_ip):
    signup(client)
    remote_ip("198.51.100.1")
    for _ in range(PER_USER_IP):
        login(client, "alice", "wrong password")
    assert login(client).status_code == 429
    remote_ip("198.51.100.2")
    assert login(client).status_code == 200


def test_failures_from_one_address_across_names_are_limited(client, remote_ip, monkeypatch):
    monkeypatch.setenv("LOGIN_FAILURES_PER_IP", "3")
    lazy.reset()
    for name in ("anna", "bert", "carl"):
        assert login(client, name, "wrong password").status_code == 401
    assert login(client, "dora", "wrong password").status_code == 429


def test_failures_for_one_name_across_addresses_are_limited(client, remote_ip, monkeypatch):
    monkeypatch.setenv("LOGIN_FAILURES_PER_USER", "3")
    lazy.reset()
    signup(client)
    for address in ("198.51.100.1", "198.51.100.2", "198.51.100.3"):
        remote_ip(address)
        assert login(client, "alice", "wrong password").status_code == 401
    remote_ip("198.51.100.4")
    assert login(client).status_code == 429


def test_loopback_is_exempt_from_the_limit_per_address_alone(client, monkeypatch):
    monkeypatch.setenv("LOGIN_FAILURES_PER_IP", "3")
    lazy.reset()
    for name in ("anna", "bert", "carl", "dora", "emil"):
        assert login(client, name, "wrong password").status_code == 401


def test_a_refused_attempt_does_not_use_up_the_other_windows(client, remote_ip, monkeypatch):
    monkeypatch.setenv("LOGIN_FAILURES_PER_USER", "7")
    lazy.reset()
    signup(client)
    for _ in range(PER_USER_IP):
        login(client, "alice", "wrong password")
    for _ in range(5):
        assert login(client, "alice", "wrong password").status_code == 429
    remote_ip("198.51.100.9")  # the name's own window has room for 2 more failures
    assert login(client, "alice", "wrong password").status_code == 401
    assert login(client).status_code == 200


def test_throttling_ends_when_the_window_passes(client):
    signup(client)
    for _ in range(PER_USER_IP):
        login(client, "alice", "wrong password")
    assert login(client).status_code == 429
    clock.get().advance(settings.get().login_window_seconds + 1)
    assert login(client).status_code == 200


def test_a_success_before_the_limit_clears_the_failures_from_that_address(client):
    signup(client)
    for _ in range(PER_USER_IP - 1):
        login(client, "alice", "wrong password")
    assert login(client).status_code == 200
    for _ in range(PER_USER_IP - 1):
        assert login(client, "alice", "wrong password").status_code == 401
    assert login(client).status_code == 200


def test_the_eleventh_signup_from_one_address_within_the_hour_is_429(client, aws, remote_ip):
    allowed = settings.get().signups_per_ip
    for i in range(allowed):
        assert signup(client, f"user{i}").status_code == 201
    response = signup(client, "onemore")
    assert response.status_code == 429
    assert 0 < int(response.headers["Retry-After"]) <= settings.get().signup_window_seconds
    assert len(stored_users(aws)) == allowed
    remote_ip("198.51.100.3")
    assert signup(client, "onemore").status_code == 201


def test_signups_from_loopback_are_not_limited(client, monkeypatch):
    monkeypatch.setenv("SIGNUPS_PER_IP", "1")
    lazy.reset()
    assert signup(client, "first").status_code == 201
    assert signup(client, "second").status_code == 201


def test_an_invalid_body_is_400_before_any_limit_counts_it(client, remote_ip, monkeypatch):
    monkeypatch.setenv("SIGNUPS_PER_IP", "1")
    lazy.reset()
    for _ in range(3):
        assert post(client, "/signup", b'{"username": "a", "a": [' * 40).status_code == 400
    assert signup(client).status_code == 201


# ------------------------------------------------------------- refresh, logout
# Sessions (PROTOCOL.md v3) have their own tests: tests/chalicelib/test_sessions.py.


def bearer(token: str) -> dict[str, str]:
    return {**JSON, "Authorization": f"Bearer {token}"}


def call(client, path, token):
    return client.http.post(path, headers=bearer(token) if token else JSON, body=b"")


def test_refresh_with_a_bearer_access_token_alone_is_401(client):
    token = signup(client, "Alice").json_body["token"]
    response = call(client, "/refresh", token)
    assert response.status_code == 401
    assert response.json_body["Code"] == "UnauthorizedError"


@pytest.mark.parametrize("token", [None, "not-a-jwt", "a.b.c"], ids=["missing", "junk", "dots"])
def test_logout_without_a_valid_token_is_401(client, token):
    response = call(client, "/logout", token)
    assert response.status_code == 401
    assert response.json_body["Code"] == "UnauthorizedError"


def test_an_expired_access_token_cannot_log_out(client):
    signup(client)
    expired = auth.issue_token("alice", clock.now_s() - 2 * 86400, "s").token
    assert call(client, "/logout", expired).status_code == 401


def test_a_login_in_the_same_second_as_a_logout_works(client):
    old = signup(client).json_body["token"]
    assert call(client, "/logout", old).status_code == 204
    new = login(client).json_body["token"]
    assert call(client, "/logout", new).status_code == 204
    assert call(client, "/logout", old).status_code == 401


def test_cors_headers_answer_the_configured_origin(client):
    response = client.http.get("/health")
    assert response.headers["Access-Control-Allow-Origin"] == settings.get().cors_origin
