"""Finding 14 of #14: Ctrl-C at any moment of startup stops serve.py cleanly.

A Ctrl-C while serve.py was still looking for the upstream printed a traceback and exited
by the signal. Here a stand-in `foundry` CLI hangs in `foundry service status`, so the
signal arrives exactly during detection, every time.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT
from tests.security.wire import eventually
from tests.support.terminal import ctrl_c_as_in_a_terminal


def test_ctrl_c_during_upstream_detection_stops_cleanly(site: Path, tmp_path: Path) -> None:
    asked = tmp_path / "asked"
    cli = tmp_path / "bin" / "foundry"
    cli.parent.mkdir()
    cli.write_text(f"#!/bin/sh\ntouch '{asked}'\nexec sleep 60\n")
    cli.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in ("BASE_URL", "FOUNDRY_LOCAL_URL")}
    env["PATH"] = f"{cli.parent}{os.pathsep}{env['PATH']}"
    proc = subprocess.Popen(
        [sys.executable, "serve.py", "--port", "0", "--no-build", "--dist", str(site)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=ctrl_c_as_in_a_terminal,
    )
    try:
        assert eventually(asked.exists), "serve.py never asked the foundry CLI"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert "Traceback" not in err, err
    assert proc.returncode == 0
    assert out.strip() == "Stopped."
