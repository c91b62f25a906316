"""A minimal HTTP sink for webhook deliveries: answers 200 to every POST and counts them.

Run as ``python bench/sink.py PORT``; ``GET /count`` answers the number of POSTs received and
the number of distinct ``webhook-id`` headers seen.
"""

from __future__ import annotations

import asyncio
import sys


class Sink(asyncio.Protocol):
    received = 0
    ids: set[bytes] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = self.buffer[:head_end].decode("latin-1")
            lines = head.split("\r\n")
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0"))
            total = head_end + 4 + length
            if len(self.buffer) < total:
                return
            self.buffer = self.buffer[total:]
            method, path, _ = lines[0].split(" ", 2)
            if method == "GET" and path == "/count":
                body = f'{{"received": {Sink.received}, "distinct": {len(Sink.ids)}}}'.encode()
            else:
                Sink.received += 1
                if "webhook-id" in headers:
                    Sink.ids.add(headers["webhook-id"].encode())
                body = b"ok"
            self.transport.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "
                + str(len(body)).encode()
                + b"\r\n\r\n"
                + body
            )


async def main(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Sink, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
