"""The headers every answer carries: cross-origin isolation and the content policy.

Every response is cross-origin isolated (COOP + COEP), which is what makes
`SharedArrayBuffer` available: ONNX Runtime Web's WASM threads depend on it. Everything
serve.py sends itself (the page, its files, its JSON) carries `PAGE_CSP`: only our own
origin may run scripts, be fetched or frame the page, so a string that slips into the DOM
cannot load or send anything. What the proxy passes on from the upstream is sandboxed
instead: even if it were opened as a page, it could not run scripts on Hearth's origin.
"""

from __future__ import annotations

PAGE_CSP = (
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self' blob:; "
    "connect-src 'self'; img-src 'self' data: blob:; style-src 'self'; font-src 'self'; "
    "manifest-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)

_COMMON = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Cross-Origin-Resource-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
PAGE_HEADERS = {**_COMMON, "Content-Security-Policy": PAGE_CSP}
PROXIED_HEADERS = {**_COMMON, "Content-Security-Policy": "sandbox", "Cache-Control": "no-store"}
