"""The probe protocol's UDP packets and the cryptography that ties them together.

A session has two phases. The *handshake* is slow and signed; the *timed phase*
is one keyed MAC per nonce, so that what the landmark times is network delay,
not public-key arithmetic (every 1 ms of processing is ~100 km of uncertainty)::

    device                                      landmark
    HELLO  client_random, X25519 e_d, Ed25519 D, k, device_id  ─►
         ◄─ ACCEPT session_id, X25519 e_l, landmark_random, landmark_id,
                   sig_L(hello ‖ accept)
    CONFIRM session_id, sig_D(hello ‖ accept)  ─►
         ◄─ NONCE seq, 128-bit random nonce            (clock starts)
    RESPONSE seq, MAC_K(session_id ‖ seq ‖ nonce) ─►   (clock stops)
         … k times, one nonce at a time …
         ◄─ RECORD signed MeasurementRecord (JSON)
    FETCH session_id ─►  (only if the RECORD was lost; answered from a cache)

``K`` = keyed BLAKE2b under the X25519 shared secret over both randoms and
the transcript hash. The landmark's signature on ACCEPT tells the
device it talks to the listed landmark; the device's signature on CONFIRM over
the whole transcript (which holds ``e_d``) proves that the holder of ``D`` set
up this session and therefore owns ``K``. Nobody else on the path can compute
``K``, so nobody else can answer a nonce, and no reply can be made before its
nonce is seen. The MAC is keyed BLAKE2s truncated to 128 bits.

All integers are big-endian. Every packet starts with ``b"FP"``, the protocol
version (1) and a type byte.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from fleetproof.protocol.curve25519 import X25519PrivateKey, X25519PublicKey

__all__ = [
    "Accept",
    "Hello",
    "PacketError",
    "derive_session_key",
    "response_tag",
]

MAGIC = b"FP"
PROTOCOL_VERSION = 1
T_HELLO, T_ACCEPT, T_CONFIRM, T_NONCE, T_RESPONSE, T_RECORD, T_FETCH, T_ERROR = range(1, 9)


def header(kind: int) -> bytes:
    return MAGIC + bytes((PROTOCOL_VERSION, kind))


H_HELLO, H_ACCEPT, H_CONFIRM, H_NONCE = header(T_HELLO), header(T_ACCEPT), header(T_CONFIRM), header(T_NONCE)
H_RESPONSE, H_RECORD, H_FETCH, H_ERROR = (
    header(T_RESPONSE),
    header(T_RECORD),
    header(T_FETCH),
    header(T_ERROR),
)

SESSION_ID_BYTES = 8
NONCE_BYTES = 16
TAG_BYTES = 16
SIGNATURE_BYTES = 64
NONCE_LEN = 4 + SESSION_ID_BYTES + 2 + NONCE_BYTES
RESPONSE_LEN = 4 + SESSION_ID_BYTES + 2 + TAG_BYTES
CONFIRM_LEN = 4 + SESSION_ID_BYTES + SIGNATURE_BYTES
MAX_ID_BYTES = 128
MAX_SAMPLES = 64
ACCEPT_DOMAIN = b"fleetproof/probe/accept/v1"
CONFIRM_DOMAIN = b"fleetproof/probe/confirm/v1"
SESSION_INFO = b"fleetproof/probe/session/v1"


class PacketError(ValueError):
    """A datagram that is not a well-formed packet of the expected type."""


_P25519 = 2**255 - 19
_LOW_ORDER_U = frozenset(
    {
        0,
        1,
        325606250916557431795983626356110631294008115727848805560023387167927233504,
        39382357235489614581723060781553021112529911719440698176882885853963445705823,
        _P25519 - 1,
    }
)


def is_low_order(x25519_public: bytes) -> bool:
    """Whether an X25519 key is a point of small order, with which no shared secret exists.

    Checked on a HELLO before any work: such a HELLO never becomes a session, so the
    global session cap would not bound the signatures a spoofer could make the landmark
    compute for it. X25519 ignores the top bit and reduces modulo p, so encodings that
    differ only there are the same point.
    """
    u = int.from_bytes(x25519_public, "little") & ((1 << 255) - 1)
    return u % _P25519 in _LOW_ORDER_U


def kind_of(data: bytes) -> int:
    if len(data) < 4 or data[:2] != MAGIC or data[2] != PROTOCOL_VERSION:
        return 0
    return data[3]


@dataclass(frozen=True)
class Hello:
    client_random: bytes
    ephemeral_public: bytes
    device_public: bytes
    samples: int
    device_id: str

    def encode(self) -> bytes:
        ident = self.device_id.encode("utf-8")
        return (
            H_HELLO
            + self.client_random
            + self.ephemeral_public
            + self.device_public
            + bytes((self.samples, len(ident)))
            + ident
        )

    @classmethod
    def decode(cls, data: bytes) -> Hello:
        if len(data) < 4 + 16 + 32 + 32 + 2 or data[:4] != H_HELLO:
            raise PacketError("short or mistyped HELLO")
        samples, id_len = data[84], data[85]
        if len(data) != 86 + id_len or not 0 < id_len <= MAX_ID_BYTES:
            raise PacketError("bad device id length")
        if not 0 < samples <= MAX_SAMPLES:
            raise PacketError("bad sample count")
        if is_low_order(data[20:52]):
            raise PacketError("ephemeral key is a low-order point")
        try:
            ident = data[86:].decode("utf-8")
        except UnicodeDecodeError:
            raise PacketError("device id is not UTF-8") from None
        return cls(data[4:20], data[20:52], data[52:84], samples, ident)


@dataclass(frozen=True)
class Accept:
    session_id: bytes
    ephemeral_public: bytes
    landmark_random: bytes
    landmark_id: str
    signature: bytes

    def unsigned(self) -> bytes:
        ident = self.landmark_id.encode("utf-8")
        return (
            H_ACCEPT
            + self.session_id
            + self.ephemeral_public
            + self.landmark_random
            + bytes((len(ident),))
            + ident
        )

    def encode(self) -> bytes:
        return self.unsigned() + self.signature

    @classmethod
    def decode(cls, data: bytes) -> Accept:
        fixed = 4 + SESSION_ID_BYTES + 32 + 16 + 1
        if len(data) < fixed + SIGNATURE_BYTES or data[:4] != H_ACCEPT:
            raise PacketError("short or mistyped ACCEPT")
        id_len = data[fixed - 1]
        if len(data) != fixed + id_len + SIGNATURE_BYTES:
            raise PacketError("bad landmark id length")
        try:
            ident = data[fixed : fixed + id_len].decode("utf-8")
        except UnicodeDecodeError:
            raise PacketError("landmark id is not UTF-8") from None
        return cls(data[4:12], data[12:44], data[44:60], ident, data[fixed + id_len :])


def accept_message(hello_packet: bytes, accept_unsigned: bytes) -> bytes:
    return ACCEPT_DOMAIN + hashlib.sha256(hello_packet + accept_unsigned).digest()


def confirm_message(hello_packet: bytes, accept_packet: bytes) -> bytes:
    return CONFIRM_DOMAIN + hashlib.sha256(hello_packet + accept_packet).digest()


def derive_session_key(
    own_ephemeral: X25519PrivateKey,
    peer_ephemeral: bytes,
    hello_packet: bytes,
    accept_packet: bytes,
) -> bytes:
    """Both sides derive the same 32-byte MAC key; it depends on the whole transcript.

    The KDF is keyed BLAKE2b (a PRF) keyed with the X25519 shared secret over a
    label, both randoms and the transcript hash: one hash call, where HKDF
    would take several.
    """
    shared = own_ephemeral.exchange(X25519PublicKey.from_public_bytes(peer_ephemeral))
    client_random = hello_packet[4:20]
    landmark_random = accept_packet[44:60]
    transcript = hashlib.sha256(hello_packet + accept_packet).digest()
    return hashlib.blake2b(
        SESSION_INFO + client_random + landmark_random + transcript, key=shared, digest_size=32
    ).digest()


def response_tag(key: bytes, session_id: bytes, seq: bytes, nonce: bytes) -> bytes:
    """The per-nonce reply: keyed BLAKE2s over session id, sequence number and nonce."""
    return hashlib.blake2s(session_id + seq + nonce, key=key, digest_size=TAG_BYTES).digest()


def nonce_packet(session_id: bytes, seq: int, nonce: bytes) -> bytes:
    return H_NONCE + session_id + seq.to_bytes(2, "big") + nonce


def response_packet(key: bytes, nonce_pkt: bytes) -> bytes:
    """Answer a NONCE packet (the device's whole fast path)."""
    sid, seq, nonce = nonce_pkt[4:12], nonce_pkt[12:14], nonce_pkt[14:30]
    return H_RESPONSE + sid + seq + response_tag(key, sid, seq, nonce)


def confirm_packet(session_id: bytes, signature: bytes) -> bytes:
    return H_CONFIRM + session_id + signature


def error_packet(session_id: bytes, code: int, message: str) -> bytes:
    return H_ERROR + session_id + bytes((code,)) + message.encode("utf-8")[:200]


def printable(text: str) -> str:
    """Text a peer chose, safe to show: control and format characters become escapes.

    Device ids and error messages come from the other side of the wire; printed raw,
    an escape sequence or a bidi override in them would rewrite the operator's terminal.
    """
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)


def decode_error(data: bytes) -> tuple[bytes, int, str]:
    if len(data) < 13:
        raise PacketError("short ERROR")
    return data[4:12], data[12], data[13:].decode("utf-8", "replace")


ERR_RATE_LIMITED, ERR_BUSY, ERR_BAD_CONFIRM, ERR_UNKNOWN_SESSION, ERR_EXPIRED = 1, 2, 3, 4, 5
