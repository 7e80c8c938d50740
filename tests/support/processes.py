"""Real worker processes started the way users start them (`python -m arq <path>`)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from tests.support.polling import wait_for_sync

# logged by the core startup hook once every blueprint's startup hook has run
READY_PATTERN = re.compile(r"worker \S+ ready")


class WorkerProcess:
    """A worker subprocess whose combined output goes to a log file the test can read."""

    def __init__(self, args: Sequence[str], env: dict[str, str], log_path: Path) -> None:
        self.args = list(args)
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @classmethod
    def arq(
        cls, settings_path: str, env: dict[str, str], log_path: Path, *extra: str
    ) -> WorkerProcess:
        return cls([sys.executable, "-m", "arq", settings_path, *extra], env, log_path)

    def start(self) -> WorkerProcess:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.args, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_ready(self, timeout: float = 30.0) -> WorkerProcess:
        def ready() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(
                    f"worker exited early ({self.process.returncode}):\n{self.output()}"
                )
            return READY_PATTERN.search(self.output()) is not None

        wait_for_sync(ready, timeout=timeout, message=f"worker ready: {self.args}")
        return self

    def start_ready(self, timeout: float = 30.0) -> WorkerProcess:
        return self.start().wait_ready(timeout)

    def signal(self, sig: signal.Signals) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, sig)

    def wait(self, timeout: float = 60.0) -> int:
        assert self.process is not None
        return self.process.wait(timeout=timeout)

    def stop(self, timeout: float = 60.0) -> int | None:
        """SIGTERM, then SIGKILL if it has not exited within `timeout`."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.signal(signal.SIGTERM)
            try:
                return self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.process.returncode

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None
