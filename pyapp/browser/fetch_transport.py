"""An httpx transport over the browser's `fetch`, so the official openai client works in
Pyodide (which has no sockets).

The response body is read with `getReader()` and handed to httpx chunk by chunk as the
network delivers it, so a streamed reply shows up token by token. Closing the response
(the openai stream's `close()`, or a Stop) aborts the fetch, which closes the connection
to serve.py and, through it, the upstream's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
from js import AbortController, Object, fetch
from pyodide.ffi import JsException, to_js

# Set by the browser itself, or not allowed from script.
_SKIPPED_REQUEST_HEADERS = {"host", "connection", "content-length", "accept-encoding"}
# The browser has already decoded the body; passing these on would make httpx decode again.
_SKIPPED_RESPONSE_HEADERS = {"content-encoding", "content-length", "transfer-encoding"}


class FetchStream(httpx.AsyncByteStream):
    def __init__(self, response: Any, controller: Any, request: httpx.Request) -> None:
        self._response = response
        self._controller = controller
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        reader = self._response.body.getReader()
        while True:
            try:
                result = await reader.read()
            except JsException as error:
                message = f"the stream broke off: {error}"
                raise httpx.ReadError(message, request=self._request) from None
            if result.done:
                return
            yield result.value.to_bytes()

    async def aclose(self) -> None:
        self._controller.abort()


class FetchTransport(httpx.AsyncBaseTransport):
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        controller = AbortController.new()
        headers = {
            k: v for k, v in request.headers.items() if k.lower() not in _SKIPPED_REQUEST_HEADERS
        }
        init: dict[str, Any] = {
            "method": request.method,
            "headers": headers,
            "signal": controller.signal,
        }
        if body:
            init["body"] = to_js(body)
        try:
            response = await fetch(str(request.url), to_js(init, dict_converter=Object.fromEntries))
        except JsException as error:
            raise httpx.ConnectError(f"fetch failed: {error}", request=request) from None
        pairs = [
            (str(pair[0]), str(pair[1]))
            for pair in response.headers.entries()
            if str(pair[0]).lower() not in _SKIPPED_RESPONSE_HEADERS
        ]
        return httpx.Response(
            int(response.status),
            headers=pairs,
            stream=FetchStream(response, controller, request),
            request=request,
        )
