"""Watermark control records: encoding, decoding and malformed headers."""

from __future__ import annotations

import pytest

from kstreamy.time import (
    WATERMARK_HEADER,
    WatermarkControl,
    decode_watermark,
    encode_watermark,
    watermark_headers,
)


@pytest.mark.parametrize("watermark", [-(1 << 63), -1, 0, 1_700_000_000_000, (1 << 63) - 1])
@pytest.mark.parametrize("idle", [False, True])
def test_round_trip(watermark: int, idle: bool) -> None:
    headers = watermark_headers("3_12", watermark, idle)
    assert headers[0][0] == WATERMARK_HEADER == "kstreamy.watermark"
    assert decode_watermark(headers) == WatermarkControl("3_12", watermark, idle)


def test_layout() -> None:
    raw = encode_watermark("0_1", 258, idle=True)
    assert raw == b"\x01\x01" + (258).to_bytes(8, "big", signed=True) + b"0_1"


def test_ordinary_records_are_not_control_records() -> None:
    assert decode_watermark(None) is None
    assert decode_watermark([]) is None
    assert decode_watermark([("trace-id", b"abc")]) is None
    found = decode_watermark([("trace-id", b"abc"), *watermark_headers("0_0", 5)])
    assert found == WatermarkControl("0_0", 5, False)


@pytest.mark.parametrize(
    "value",
    [None, b"", b"\x01\x00", b"\x01\x00" + bytes(8), b"\x02\x00" + bytes(8) + b"0_0"],
)
def test_malformed_headers_are_errors(value) -> None:
    with pytest.raises(ValueError):
        decode_watermark([(WATERMARK_HEADER, value)])


def test_task_id_required() -> None:
    with pytest.raises(ValueError):
        encode_watermark("", 0)
