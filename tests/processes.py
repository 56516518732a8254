"""Stopping the processes tests start (a server, a fake API), in one place."""
from __future__ import annotations

import subprocess


def stop_process(proc: subprocess.Popen, grace: float) -> None:
    """SIGTERM, then SIGKILL if the process has not ended within ``grace`` seconds (a server
    finishing its requests in flight gets that long); waits for it either way, so no zombie
    is left."""
    proc.terminate()
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
