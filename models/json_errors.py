"""ASGI middleware: the framework's own plain-text 404/405 (unknown path or method) become the service's JSON.

BentoML's Starlette app answers paths and methods nobody serves with `text/plain` "Not Found" /
"Method Not Allowed", for its own routes (/livez, /metrics, ...) as for unknown ones. This middleware
wraps that app, drops such an answer unsent, and sends what `answer(request, status, allow)` makes
instead (`allow`: the framework's Allow header, if any); every answer that already is JSON passes untouched.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REWRITTEN = (404, 405)
Answer = Callable[[Request, int, str | None], Response]


class JSONErrorsMiddleware:
    """Replace non-JSON 404/405 answers of the wrapped app with `answer(request, status, allow)`."""

    def __init__(self, app: ASGIApp, answer: Answer) -> None:
        self.app = app
        self.answer = answer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        replaced: dict[str, Any] = {}

        async def intercept(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = Headers(raw=message.get("headers", []))
                if message["status"] in REWRITTEN and "json" not in headers.get("content-type", ""):
                    replaced.update(status=message["status"], allow=headers.get("allow"))
                    return
            if replaced:
                return  # the plain-text body of the replaced answer
            await send(message)

        await self.app(scope, receive, intercept)
        if replaced:
            response = self.answer(Request(scope, receive), replaced["status"], replaced["allow"])
            await response(scope, receive, send)

