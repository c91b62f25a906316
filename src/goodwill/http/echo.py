"""The bench's echo endpoint: a purchase body decoded and validated exactly as
``POST /v1/purchases`` does, answered back, with no database and no authentication.

It measures the ceiling of Goodwill's own HTTP stack in the same run as the real endpoints
(``make bench``); it exists only when ``GOODWILL_BENCH_ECHO=true``.
"""

from __future__ import annotations

from litestar import Response, post
from litestar.params import JSONBody

from goodwill.http.encoding import encode
from goodwill.purchases.schemas import PurchaseCreate


@post("/v1/echo/purchases", opt={"auth": "public"}, include_in_schema=False)
async def echo_purchase(data: JSONBody[PurchaseCreate]) -> Response[bytes]:
    return Response(encode(data), status_code=201, media_type="application/json")
