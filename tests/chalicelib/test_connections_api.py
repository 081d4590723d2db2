"""The lean Management API client against chatapp's Management API: AWS's answers, mapped."""

from __future__ import annotations

import pytest

from chalicelib import clock, connections_api, lazy, send_rate
from chalicelib.connections_api import Delivery
from chalicelib.protocol import FRAME_MAX_BYTES

CONNECTION = "L0SM9cOF/HcCIhw="  # API Gateway ids may hold '/', '+' and '='


@pytest.fixture
def api(outbox):
    return connections_api.client()


def test_a_post_reaches_the_connection(api, outbox):
    assert api.post(CONNECTION, b'{"type":"pong"}') is Delivery.SENT
    assert outbox.posts == [(CONNECTION, b'{"type":"pong"}')]


def test_410_means_the_connection_is_gone(api, outbox):
    outbox.gone.add(CONNECTION)
    assert api.post(CONNECTION, b'{"type":"pong"}') is Delivery.GONE


def test_413_drops_the_frame_without_retrying(api, outbox):
    assert api.post(CONNECTION, b"x" * (FRAME_MAX_BYTES + 1)) is Delivery.TOO_LARGE
    assert api.post(CONNECTION, b'{"type":"pong"}') is Delivery.SENT
    assert len(outbox.posts) == 1


def test_a_429_to_a_post_is_answered_at_once_for_the_caller_to_decide(api, outbox):
    outbox.script[CONNECTION] = ["429"]
    assert api.post(CONNECTION, b'{"type":"pong"}') is Delivery.THROTTLED
    assert outbox.posts == []
    assert api.post(CONNECTION, b'{"type":"pong"}') is Delivery.SENT


def test_a_429_slows_the_whole_process_down_and_successes_bring_it_back(api, outbox):
    rate = send_rate.get()
    outbox.script[CONNECTION] = ["429"]
    api.post(CONNECTION, b'{"type":"pong"}')
    assert rate.rate < rate.ceiling and rate.throttles == 1
    slowed = rate.rate
    api.post("other=", b'{"type":"pong"}')
    assert rate.rate > slowed


def test_a_reply_is_retried_until_the_client_takes_it(api, outbox):
    outbox.script[CONNECTION] = ["429", "429"]
    api.send(CONNECTION, '{"type":"pong"}')
    assert outbox.script[CONNECTION] == [] and len(outbox.posts) == 1


def test_a_reply_refused_for_good_is_given_up_for_that_connection(api, outbox):
    outbox.script[CONNECTION] = ["429"] * (len(connections_api.THROTTLED_DELAYS) + 1)
    api.send(CONNECTION, '{"type":"pong"}')
    assert outbox.script[CONNECTION] == []  # every retry was made, then it stopped
    assert outbox.posts == []
    assert api.post("other=", b'{"type":"pong"}') is Delivery.SENT


def test_5xx_is_retried(api, outbox):
    outbox.script[CONNECTION] = ["500"]
    assert api.post(CONNECTION, b'{"type":"pong"}') is Delivery.SENT


def test_5xx_that_never_ends_fails(api, outbox):
    outbox.broken.add(CONNECTION)
    assert api.post(CONNECTION, b'{"type":"pong"}') is Delivery.FAILED


def test_a_post_past_its_deadline_is_not_sent(api, outbox):
    assert api.post(CONNECTION, b'{"type":"pong"}', clock.now_ms() - 1) is Delivery.LATE
    assert outbox.posts == []
    assert api.post(CONNECTION, b'{"type":"pong"}', clock.now_ms() + 60_000) is Delivery.SENT


def test_a_post_whose_retry_would_go_out_past_its_deadline_is_not_sent(api, outbox):
    # The 5xx's retry waits about ERROR_DELAYS[0]; the deadline passes meanwhile.
    outbox.script[CONNECTION] = ["500"]
    assert api.post(CONNECTION, b'{"type":"pong"}', clock.now_ms() + 1) is Delivery.LATE
    assert outbox.posts == []


def test_a_reset_connection_is_retried_on_a_new_one(api, outbox):
    outbox.script[CONNECTION] = ["reset"]
    assert api.post(CONNECTION, b'{"type":"pong"}') is Delivery.SENT
    assert outbox.posts == [(CONNECTION, b'{"type":"pong"}')]


def test_delete_closes_the_connection_and_then_it_is_gone(api, outbox):
    assert api.delete(CONNECTION) is Delivery.SENT
    assert outbox.closed == [CONNECTION]
    assert api.delete(CONNECTION) is Delivery.GONE


def test_without_an_api_id_a_websocket_event_names_its_own_endpoint(monkeypatch):
    monkeypatch.delenv(connections_api.ENDPOINT_ENV, raising=False)
    monkeypatch.setenv("WEBSOCKET_API_ID", "")
    lazy.reset()
    try:
        url = connections_api.endpoint("abc.execute-api.us-east-1.amazonaws.com", "api")
        assert url == "https://abc.execute-api.us-east-1.amazonaws.com/api"
        with pytest.raises(RuntimeError, match="WEBSOCKET_API_ID"):
            connections_api.endpoint()
    finally:
        lazy.reset()


def test_the_api_id_names_the_stage_endpoint(monkeypatch):
    monkeypatch.delenv(connections_api.ENDPOINT_ENV, raising=False)
    monkeypatch.setenv("WEBSOCKET_API_ID", "w1")
    lazy.reset()
    try:
        assert connections_api.endpoint() == "https://w1.execute-api.us-east-1.amazonaws.com/api"
    finally:
        lazy.reset()
