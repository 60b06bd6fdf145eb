"""Hearth's chat logic, written to run both in the page (Pyodide) and in CPython tests.

Everything outside `pyapp.browser` is plain Python; only `pyapp.browser` touches `js`.
"""

__version__ = "0.1.0"
