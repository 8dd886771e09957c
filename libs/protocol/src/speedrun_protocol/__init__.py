"""speedrun's protocol: every schema that crosses a process boundary, defined once."""

from speedrun_protocol.frames import (
    MAX_FRAME_BYTES,
    PROTOCOL_VERSION,
    ClientFrame,
    ProtocolError,
    ServerFrame,
    decode_client_frame,
    decode_server_frame,
    encode_frame,
)

__all__ = [
    "MAX_FRAME_BYTES",
    "PROTOCOL_VERSION",
    "ClientFrame",
    "ProtocolError",
    "ServerFrame",
    "decode_client_frame",
    "decode_server_frame",
    "encode_frame",
]
