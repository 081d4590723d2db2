"""The Management API and Lambda Invoke on a running `chatapp serve`: signed requests only.

The same checks as test_management.py's, against the subprocess (kept apart from
those so that `make check` starts no server).
"""

from __future__ import annotations

import json
from urllib.parse import quote

from tests.chatapp.test_management import CONNECTION, LOCAL, raw, signed_status


def test_chatapp_serve_answers_the_management_api_only_to_signed_requests(local_server):
    url = f"{local_server.url}/@connections/{quote(CONNECTION, safe='')}"
    assert raw("POST", url, b'{"type":"message"}') == 403
    assert signed_status("POST", url, b"{}", LOCAL) == 410  # signed: no such connection


def test_chatapp_serve_runs_no_function_for_an_unsigned_invoke(local_server):
    url = f"{local_server.url}/2015-03-31/functions/deliver_to_connections/invocations"
    body = json.dumps({"room": "x", "connectionIds": [], "frames": []}).encode()
    assert raw("POST", url, body, {"X-Amz-Invocation-Type": "Event"}) == 403
