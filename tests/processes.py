"""Running a command in a child process and stopping it from outside, as a terminal or a scheduler does."""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

STOP_TIMEOUT_S = 120


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
    try:
        stdout, stderr = proc.communicate(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:  # a hang: kill it (and its workers) rather than leave it running
        if group:
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
        stdout, stderr = proc.communicate()
        raise AssertionError(f"{cmd[2:4]} did not stop within {STOP_TIMEOUT_S} s of the signal:\n{stderr[-2000:]}") from None
    return subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr), proc.pid
