"""Subprocess handles for the tests that run the `libp2p` command: a line of its output within a
time limit, and a stop that always reaps it."""

from __future__ import annotations

import queue
import subprocess
import threading
from typing import Any

__all__ = ["read_line", "stop"]


def read_line(proc: subprocess.Popen[str], timeout: float, what: str = "the process") -> str:
    """The next line of ``proc``'s stdout ("" at its end); AssertionError after ``timeout`` s."""
    assert proc.stdout is not None
    stdout = proc.stdout
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True).start()
    try:
        return lines.get(timeout=timeout)
    except queue.Empty:
        raise AssertionError(f"no line from {what} within {timeout} s") from None


def stop(proc: subprocess.Popen[Any], timeout: float = 10) -> int:
    """SIGTERM, then SIGKILL after ``timeout`` s; closes its pipes; its exit code."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()
    return proc.returncode
