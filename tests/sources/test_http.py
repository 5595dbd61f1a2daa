"""The shared HTTP layer's redaction of secrets in logged URLs."""

from __future__ import annotations

import pytest

from sources.http import redact


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://api.example.com/v1/items?limit=100&after=5",
            "https://api.example.com/v1/items?limit=100&after=5",
        ),
        (
            "https://api.example.com/v1/items?access_token=abc123&limit=1",
            "https://api.example.com/v1/items?access_token=***&limit=1",
        ),
        (
            "https://api.example.com/v1/items?limit=1&HAPIKEY=abc123",
            "https://api.example.com/v1/items?limit=1&HAPIKEY=***",
        ),
        (
            "https://oauth.example.com/token?refresh_token=r&client_secret=s",
            "https://oauth.example.com/token?refresh_token=***&client_secret=***",
        ),
        (
            "https://api.example.com/v1/tokenizer?mytoken=abc",
            "https://api.example.com/v1/tokenizer?mytoken=abc",
        ),
    ],
)
def test_secret_query_parameters_are_redacted_and_others_kept(url, expected):
    assert redact(url) == expected
