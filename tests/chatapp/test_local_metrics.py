"""`chatapp serve`'s metrics page and JSON logs: read from the lines the handlers print.

One server with --json-logs: its log is what a deployed stage's CloudWatch Logs
would hold, so it is also where no secret may appear.
"""

from __future__ import annotations

import urllib.request
from typing import Any

from tests.support.chatclient import ChatClient, call, unique
from tests.support.localserver import server_fixture
from tests.support.waiting import wait_until

PASSWORD = "a password nobody logs"
SECRET_TEXT = "the text of a message nobody logs"


json_logs_server = server_fixture("--json-logs")


def test_a_message_shows_on_the_metrics_page_and_nothing_secret_in_the_logs(json_logs_server):
    server = json_logs_server
    username = unique("metrics")
    status, session = call(server.api_url, "/signup", {"username": username, "password": PASSWORD})
    assert status == 201, session
    status, login = call(server.api_url, "/login", {"username": username, "password": PASSWORD})
    assert status == 200, login
    before = server.metrics()["totals"]
    with ChatClient(server.ws_url, login["token"], unique("room")) as client:
        client.send("sendMessage", text=SECRET_TEXT)
        client.messages(1)

        def shown() -> dict[str, Any] | None:  # stored, then delivered by the fan-out
            totals = (now := server.metrics())["totals"]
            stored = totals["messagesStored"] > before["messagesStored"]
            sent = totals["deliveries"].get("sent", 0) > before["deliveries"].get("sent", 0)
            return now if stored and sent else None

        after = wait_until(shown, "the message and its delivery on the metrics page")
        assert after["totals"]["openConnections"] >= 1
        assert after["totals"]["logins"]["ok"] >= 1
        assert sum(after["messagesPerSecond"]) >= 1
    logs = server.logs()
    json_lines = [line for line in logs.splitlines() if line.startswith("{")]
    assert any('"_aws"' in line for line in json_lines)  # the EMF lines, as Lambda prints them
    secrets = [PASSWORD, SECRET_TEXT, *(session[k] for k in ("token", "refreshToken")),
               *(login[k] for k in ("token", "refreshToken", "deviceToken"))]
    for secret in secrets:
        assert secret not in logs


def test_the_metrics_page_is_served_locally_only(json_logs_server):
    with urllib.request.urlopen(f"{json_logs_server.url}/_local/metrics", timeout=10) as answer:
        page = answer.read().decode()
        assert answer.headers["Cache-Control"] == "no-store"
    assert "<h1>Local metrics</h1>" in page
