# Entry point PyScript runs in a Web Worker; everything real lives in pyapp.
from pyapp.browser.main import start

await start()  # noqa: F704 (PyScript runs this file with top-level await)
