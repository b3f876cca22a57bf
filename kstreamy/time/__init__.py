"""Event time: per-partition watermarks, idleness, and watermarks across repartition topics."""

from kstreamy.time.watermark_control import (
    WATERMARK_HEADER,
    WatermarkControl,
    decode_watermark,
    encode_watermark,
    watermark_headers,
)
from kstreamy.time.watermarks import (
    NO_WATERMARK,
    PartitionWatermarks,
    TaskWatermark,
    UpstreamWatermarks,
)

__all__ = [
    "NO_WATERMARK",
    "WATERMARK_HEADER",
    "PartitionWatermarks",
    "TaskWatermark",
    "UpstreamWatermarks",
    "WatermarkControl",
    "decode_watermark",
    "encode_watermark",
    "watermark_headers",
]
