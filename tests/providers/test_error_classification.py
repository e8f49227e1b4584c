"""Classifying answers without a server: error bodies and "wait this long" hints."""

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from runs.providers import ErrorKind
from runs.providers.transport import (
    RawResponse,
    error_from_status,
    parse_duration,
    retry_after_from,
)


def classify(status: int, body: bytes, headers=None):
    return error_from_status(RawResponse(status, headers or {}, body, 1.0), who="agent x")


def test_openai_error_body_gives_the_message():
    error = classify(
        400, b'{"error": {"message": "bad temperature", "type": "invalid_request_error"}}'
    )

    assert error.message == "agent x returned HTTP 400: bad temperature"


def test_fastapi_detail_gives_the_message():
    assert classify(422, b'{"detail": "input is required"}').message.endswith("input is required")


def test_plain_text_error_body_is_quoted_in_part():
    error = classify(502, b"<html>Bad Gateway</html>" + b"x" * 1000)

    assert error.kind == ErrorKind.SERVER_ERROR
    assert "<html>Bad Gateway</html>" in error.message
    assert len(error.message) < 400


def test_empty_error_body_says_so():
    assert classify(500, b"").message.endswith("(empty body)")


def test_quota_is_recognised_by_type_as_well_as_code():
    error = classify(429, b'{"error": {"message": "no money", "type": "insufficient_quota"}}')

    assert error.kind == ErrorKind.QUOTA
    assert not error.retryable


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "2"}, 2.0),
        ({"Retry-After": "0.05"}, 0.05),
        ({"Retry-After": "-3"}, 0.0),
        ({"retry-after-ms": "250", "Retry-After": "9"}, 0.25),
        ({"Retry-After": "soon"}, None),
        ({}, None),
        ({"x-ratelimit-reset-requests": "2s", "x-ratelimit-reset-tokens": "6m0s"}, 360.0),
        (
            {
                "x-ratelimit-reset-requests": "2s",
                "x-ratelimit-remaining-requests": "0",
                "x-ratelimit-reset-tokens": "6m0s",
            },
            2.0,
        ),
    ],
)
def test_retry_after_from_headers(headers, expected):
    assert retry_after_from(headers) == expected


def test_retry_after_as_an_http_date_is_seconds_from_now():
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)

    assert 25 <= retry_after_from({"Retry-After": when}) <= 30


def test_retry_after_in_the_past_means_now():
    assert retry_after_from({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1s", 1.0), ("20ms", 0.02), ("6m0s", 360.0), ("1h2m3.5s", 3723.5), ("1.5", 1.5)],
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "abc", "1s junk", "5x"])
def test_parse_duration_rejects_garbage(text):
    assert parse_duration(text) is None
