"""AWS event-stream framing (`application/vnd.amazon.eventstream`), the binary messages of
SageMaker Runtime's InvokeEndpointWithResponseStream, so that boto3's
`invoke_endpoint_with_response_stream` pointed at this server reads our stream unchanged.

botocore has only the decoder (`botocore.eventstream`) and no maintained Python package ships a
standalone encoder (awscrt's event-stream code is bound to its RPC connections), so the small
encoder is written here, by the format botocore decodes:

    prelude:  total length (uint32 BE) · headers length (uint32 BE) · CRC32 of those 8 bytes
    headers:  per header: name length (uint8) · name · type (7 = string) · value length
              (uint16 BE) · value
    payload
    message CRC32 (uint32 BE) of everything before it
"""

from __future__ import annotations

import struct
import zlib

_STRING = 7
STREAM_MEDIA_TYPE = "application/vnd.amazon.eventstream"


def _headers(headers: dict[str, str]) -> bytes:
    out = bytearray()
    for name, value in headers.items():
        raw_name, raw_value = name.encode("utf-8"), value.encode("utf-8")
        if len(raw_name) > 255 or len(raw_value) > 65535:
            raise ValueError(f"event-stream header {name!r} is too long")
        out += struct.pack(">B", len(raw_name)) + raw_name
        out += struct.pack(">BH", _STRING, len(raw_value)) + raw_value
    return bytes(out)


def encode_message(headers: dict[str, str], payload: bytes) -> bytes:
    """One event-stream message with string headers."""
    head = _headers(headers)
    total = 12 + len(head) + len(payload) + 4
    prelude = struct.pack(">II", total, len(head))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    body = prelude + head + payload
    return body + struct.pack(">I", zlib.crc32(body))


def payload_part(data: bytes) -> bytes:
    """A `PayloadPart` event: `data` arrives as the event's `Bytes`."""
    return encode_message({":event-type": "PayloadPart", ":message-type": "event",
                           ":content-type": "application/octet-stream"}, data)


def model_stream_error(message: str, code: str) -> bytes:
    """A `ModelStreamError` exception event (boto3 raises it while iterating the stream)."""
    import json

    body = json.dumps({"Message": message, "ErrorCode": code}).encode("utf-8")
    return encode_message({":exception-type": "ModelStreamError", ":message-type": "exception",
                           ":content-type": "application/json"}, body)
