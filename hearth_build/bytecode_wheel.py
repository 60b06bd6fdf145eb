"""Runs inside Pyodide at build time (hearth_build/bytecode_maker.mjs): one wheel, rewritten
with the bytecode of each of its modules beside it.

The `.pyc` files are unchecked-hash pycs: the import system takes them without comparing
them with the source, since nothing in the page ever edits an installed module. The sources
stay in the wheel, for tracebacks. Written in a fixed order with fixed timestamps, so the
same wheel always becomes the same bytes.
"""

import base64
import hashlib
import importlib.util
import sys
import zipfile
from importlib._bootstrap_external import _code_to_hash_pyc  # type: ignore[attr-defined]

FIXED_TIME = (1980, 1, 1, 0, 0, 0)


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def compile_wheel(source: str, target: str) -> None:
    tag = sys.implementation.cache_tag
    with zipfile.ZipFile(source) as wheel:
        members = {i.filename: wheel.read(i) for i in wheel.infolist() if not i.is_dir()}
    record = next(name for name in members if name.endswith(".dist-info/RECORD"))
    added: dict[str, bytes] = {}
    for name, data in members.items():
        if not name.endswith(".py") or ".dist-info/" in name:
            continue
        folder, _, module = name.rpartition("/")
        code = compile(data, name, "exec", dont_inherit=True)
        pyc = _code_to_hash_pyc(code, importlib.util.source_hash(data), checked=False)
        added[f"{folder}/__pycache__/{module[:-3]}.{tag}.pyc".lstrip("/")] = bytes(pyc)
    lines = members[record].decode().splitlines()
    lines += [_record_line(name, data) for name, data in sorted(added.items())]
    members[record] = ("\n".join(lines) + "\n").encode()
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as out:
        for name in [*sorted(n for n in members if n != record), *sorted(added), record]:
            data = added.get(name, members.get(name, b""))
            out.writestr(zipfile.ZipInfo(name, FIXED_TIME), data, zipfile.ZIP_DEFLATED)
