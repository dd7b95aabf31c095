"""Running a command in a child process and stopping it from outside, as a terminal or a scheduler does."""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path


def stop_after_start(cmd: list[str], signum: int, cwd: Path, wait_for: Path, timeout: float = 60.0, group: bool = False):
    """Run ``cmd`` and send ``signum`` once ``wait_for`` (a partial output) exists, to its whole process
    group with ``group`` (what a terminal's Ctrl-C does); returns the finished process and its pid."""
    def default_signals() -> None:  # a launcher in the background (nohup, `&`) leaves SIGINT ignored; a terminal does not
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=group,
                            preexec_fn=default_signals)
    deadline = time.monotonic() + timeout
    while not any(wait_for.parent.glob(wait_for.name)) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(0.5)
    if group:
        os.killpg(proc.pid, signum)
    else:
        proc.send_signal(signum)
    stdout, stderr = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr), proc.pid
