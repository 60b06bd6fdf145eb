"""The only code in pyapp that imports `js`, `pyodide` or `pyscript`.

It adapts browser APIs (DOM, fetch, ONNX Runtime Web) to the plain-Python core.
"""
