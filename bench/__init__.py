"""Benchmarks: Hearth in Chromium against native ORT, Foundry Local and in-browser peers.

Never shipped in dist/. Speed is measured here, never asserted in tests.
"""
