"""JSON kept compressed: the outbox's payloads and purchases' explanations, which are most of
what a purchase stores.

An event's payload repeats the same field names and values in every row (``"program_id":``,
``"status":"pending"``, times of one format) and is too small for general-purpose compression
to find much to reuse inside it. Deflate with a preset dictionary of Goodwill's own payload
vocabulary finds it: a ``reward.created`` payload of 844 bytes is stored in about 190, a
``purchase.created`` of 420 in about 140, a purchase's explanation of three rules of 890 in
about 200, in 6-8 µs each; each reads back in 2-3.

Each stored value is one format byte and the body:

- ``0x01``: raw deflate (window 2^12) with :data:`_DICTIONARY_V1` preset;
- ``0x02`` (written from migration 0011 to 2026-12-04): the same with :data:`_DICTIONARY_V2`,
  which is ``_DICTIONARY_V1`` and the start of an event's body (``[source, subject, ...]``:
  the sources Goodwill writes, about 15 bytes of each event);
- ``0x03`` (written since): ``_DICTIONARY_V2`` with a window of 2^15. The dictionary (2 KB)
  and a purchase's events (3-4 KB of JSON in one row) do not fit in a window of 2^12 together:
  the end of such a row could no longer reach back into the dictionary, and spent 24-38
  bytes more in a bench database.

A dictionary is part of the storage format: once released it never changes. A better one comes
with a new format byte, and every reader keeps the old ones. JSON is written by
:func:`json_bytes`, as in Goodwill's other JSON columns (decimals as exact numbers), and keys
keep the order they were written in, so payloads go out in their documented field order.
"""

from __future__ import annotations

import zlib
from typing import Any

import msgspec

_encoder = msgspec.json.Encoder(decimal_format="number")
_decode = msgspec.json.decode


def json_bytes(value: Any) -> bytes:
    """JSON as Goodwill stores it, packed or not: decimals as exact numbers, never through a
    float (``goodwill.db.raw.json_text`` is this, as text)."""
    return _encoder.encode(value)


_V1, _V2, _V3 = 1, 2, 3
_MEMLEVEL = 8
_LEVEL = 6

# The vocabulary of Goodwill's payloads and context attributes, most frequent last (deflate
# reaches back at most one window, and the end of the dictionary is nearest the data).
_DICTIONARY_V1 = (
    b'{"attribution":{"status":"existing","via":"referral","program_id":"","promoter_id":"",'
    b'"referral_id":"","code":null,"message":"the customer\'s referral"},"status":"new",'
    b'"via":"link","via":"code","via":"click","message":"no attribution was given and the '
    b'customer has no referral","rules":[{"rule_id":"","rule_name":"","fired":false,'
    b'"code":"condition_false","reason":"purchase_number is 1, not = 1"},{"rule_id":"",'
    b'"rule_name":"","fired":true,"code":"fired","reason":null,"reward_id":"","unit":"EUR",'
    b'"amount":"","capped":false}]}'
    b'"payout_id":null,"amount_minor":"points":"balance":"expires_at":null,"redemption_id":"'
    b'"reason":null,"metadata":{},"refunded":"voided_at":"approved_at":"paid_at":"'
    b'"webhook_endpoint_id":"url":"https://","disabled_reason":"event_type":"event.tracked"'
    b'"properties":{"name":null,"email":"@example.com","source_id":"'
    b'{"id":"","source_id":"","email":"","name":null,"metadata":{},"created_at":"",'
    b'"updated_at":"","object":"customer"}'
    b'{"id":"","program_id":"","promoter_id":"","link_id":"","click_id":null,"customer_id":"",'
    b'"source":"purchase","referred_at":"","created_at":"","object":"referral"}'
    b'{"qualifying_purchase_id":"","loyalty_program_id":"","transaction_id":"",'
    b'"transaction_ref":"","status":"redeemed","created_at":""}'
    b'{"@entity":"goodwill.purchase","trigger_type":"purchase","purchase_id":"","contact_id":"",'
    b'"promoter_id":"","link_id":null,"item_id":"","amount":,"created_at":"","updated_at":""}'
    b'{"id":"","program_id":"","rule_id":"","promoter_id":"","beneficiary":"promoter",'
    b'"customer_id":null,"referral_id":"","source":{"type":"purchase","id":""},"purchase_id":"",'
    b'"unit":"EUR","amount":"","reversed":"0.00","net":"","status":"pending","void_reason":null,'
    b'"hold_until":"","approved_at":null,"paid_at":null,"voided_at":null,"payout_id":null,'
    b'"created_at":"2026-01-01T00:00:00.000Z","updated_at":"2026-01-01T00:00:00.000Z",'
    b'"object":"reward"}{"program_id":"","promoter_id":""}'
)


# An event's body (goodwill.events.models.Event) starts with its source: the ones written most.
_DICTIONARY_V2 = _DICTIONARY_V1 + (
    b'["urn:goodwill:webhook-worker","urn:goodwill:points-expiry","urn:goodwill:hold-period",'
    b'"urn:GET:/r/","urn:POST:/leads","urn:POST:/refunds","urn:POST:/customers",'
    b'"urn:POST:/events","urn:POST:/purchases","'
)
# format byte: (dictionary, window bits)
_FORMATS = {_V1: (_DICTIONARY_V1, 12), _V2: (_DICTIONARY_V2, 12), _V3: (_DICTIONARY_V2, 15)}
_WRITTEN = _V3


def pack(value: Any, *, format_byte: int = _WRITTEN) -> bytes:
    """``value`` as JSON, compressed, behind its format byte (the latest format; an older one
    only to test that it still reads)."""
    return pack_json(json_bytes(value), format_byte=format_byte)


def pack_json(text: bytes, *, format_byte: int = _WRITTEN) -> bytes:
    """JSON text made by :func:`json_bytes` (or joined from such texts), compressed."""
    dictionary, wbits = _FORMATS[format_byte]
    compressor = zlib.compressobj(
        _LEVEL, zlib.DEFLATED, -wbits, _MEMLEVEL, zlib.Z_DEFAULT_STRATEGY, dictionary
    )
    return bytes((format_byte,)) + compressor.compress(text) + compressor.flush()


def unpack(stored: bytes) -> Any:
    """What :func:`pack` was given."""
    return _decode(json_of(stored))


def json_of(stored: bytes) -> bytes:
    """The JSON text :func:`pack` compressed, as UTF-8 bytes."""
    if not isinstance(stored, bytes | bytearray | memoryview) or not stored:
        raise ValueError(f"not a packed JSON value: {stored!r:.40}")
    found = _FORMATS.get(stored[0])
    if found is None:
        raise ValueError(f"unknown packed JSON format {stored[0]:#04x}")
    dictionary, wbits = found
    decompressor = zlib.decompressobj(-wbits, dictionary)
    return decompressor.decompress(memoryview(stored)[1:]) + decompressor.flush()
