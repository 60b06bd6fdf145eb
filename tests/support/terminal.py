"""Starting serve.py as a terminal would, for the tests that press Ctrl-C.

A command started in the background by a shell without job control (`cmd &` in a script,
`nohup … &`) ignores SIGINT, and its children inherit that: Python then never installs its
KeyboardInterrupt handler. A test run launched that way once failed all three Ctrl-C tests,
so they give serve.py the SIGINT a terminal gives it, whoever started the tests.
"""

from __future__ import annotations

import signal


def ctrl_c_as_in_a_terminal() -> None:
    """`preexec_fn` for subprocess.Popen: SIGINT at its default and not blocked."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
