"""The local web server behind serve.py: static files, the checks every request passes,
and the same-origin proxy to Foundry Local or another OpenAI-compatible server."""
