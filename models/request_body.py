"""Read a request's body within a size limit, and answer before it is read without resetting the connection.

A server that closes a connection while the client's unread bytes sit in its receive buffer makes the
kernel send a TCP reset. uvicorn closes right after the answer when the client asked for
`Connection: close` (urllib, http.client and hey -disable-keepalive do), and such clients only read the
answer once they have sent the whole body: an early 413 for a 20 MiB body reached them as "connection
reset by peer". So an early answer is sent whole at once, but its end is held back while the rest of
the body is read and dropped (at most LINGER_SECONDS, like NGINX's lingering close); only then may the
connection close.
"""

from __future__ import annotations

import asyncio
import time

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from payloads import BadInput

LINGER_SECONDS = 10.0  # below the service's 30 s traffic timeout, so BentoML never cuts the lingering answer


class RequestBody:
    """One request's body, read once within `limit` bytes; knows whether the client may still be sending it."""

    def __init__(self, request: Request, limit: int) -> None:
        self.request = request
        self.limit = limit
        self.started = False
        self.finished = False

    async def read(self) -> bytes:
        """The whole body; BadInput(413) as soon as it is known to be over the limit (declared or streamed)."""
        declared = self.request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.limit:
            raise BadInput(413, "body_too_large", f"the body has {int(declared)} bytes; at most {self.limit} "
                                                  f"({self.limit // 1024} KiB) allowed")
        chunks, size = [], 0
        self.started = True
        try:
            async for chunk in self.request.stream():
                size += len(chunk)
                if size > self.limit:
                    raise BadInput(413, "body_too_large", f"the body is over {self.limit} bytes "
                                                          f"({self.limit // 1024} KiB); at most that is allowed")
                chunks.append(chunk)
        except ClientDisconnect:
            self.finished = True  # nothing more will come
            raise
        self.finished = True
        return b"".join(chunks)

    @property
    def unread(self) -> bool:
        """True while the client may still send body bytes that an answer must not leave unread.

        A client that sent `Expect: 100-continue` and was not told to continue sends no body; reading
        would make uvicorn send "100 Continue" after the final answer (a protocol error).
        """
        if self.finished:
            return False
        waiting = self.request.headers.get("expect", "").lower() == "100-continue"
        return self.started or not waiting


class LingeringJSONResponse(JSONResponse):
    """A JSON answer sent before the request body is read: sent at once, completed once the body is dropped."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        # The whole answer (content-length is set) goes out now; clients that read while sending stop here.
        await send({"type": "http.response.body", "body": self.body, "more_body": True})
        await _drop_body(receive, time.monotonic() + LINGER_SECONDS)
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _drop_body(receive: Receive, deadline: float) -> None:
    """Read and drop request body chunks until the last one, a disconnect, or the deadline."""
    while (left := deadline - time.monotonic()) > 0:
        try:
            message = await asyncio.wait_for(receive(), timeout=left)
        except asyncio.TimeoutError:
            return
        if message["type"] != "http.request" or not message.get("more_body", False):
            return
