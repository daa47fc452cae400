import pytest

from core.throttling import parse_rate


@pytest.mark.parametrize(
    ("rate", "expected"),
    [
        ("5/30m", (5, 1800)),
        ("100/minute", (100, 60)),
        ("10/h", (10, 3600)),
        ("1/second", (1, 1)),
        ("7/2d", (7, 172800)),
    ],
)
def test_parse_rate(rate, expected):
    assert parse_rate(rate) == expected


def test_parse_rate_rejects_nonsense():
    with pytest.raises(ValueError, match="Bad throttle rate"):
        parse_rate("lots")
