"""Request bodies decode straight into the handler's declared type, so numbers stay exact.

Litestar decodes a JSON body to Python builtins first and converts those to the handler's type
afterwards: a JSON number such as ``33.33333333333333333`` becomes a binary float on the way, and
reaches a ``Decimal`` field as ``33.333333333333336``. Decoding the bytes with the declared type
reads every ``Decimal`` field from its digits (free-form objects such as ``metadata`` still hold
plain numbers). A body that does not decode is left to the default path, whose errors name every
offending field (:mod:`goodwill.http.errors`).
"""

from __future__ import annotations

from functools import cache
from typing import Any

import msgspec
from litestar import Request
from litestar.types import Empty


@cache
def _decoder(annotation: Any) -> msgspec.json.Decoder[Any] | None:
    try:
        return msgspec.json.Decoder(annotation, strict=False)
    except TypeError:  # a type msgspec cannot decode by itself: the default path handles it
        return None


class ExactRequest(Request[Any, Any, Any]):
    async def json(self) -> Any:
        if self._json is Empty and self._connection_state.json is Empty:
            field = self.route_handler.parsed_data_field
            decoder = None if field is None else _decoder(field.annotation)
            body = await self.body()
            if decoder is not None and body:
                try:
                    value = decoder.decode(body)
                except (msgspec.DecodeError, msgspec.ValidationError):
                    pass
                else:
                    self._json = self._connection_state.json = value
                    return value
        return await super().json()
