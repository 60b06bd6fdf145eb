"""The local web server behind serve.py: static files (and later the Foundry proxy)."""
