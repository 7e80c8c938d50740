"""The `ai-worker` command line: run workers, migrate, inspect and operate.

Exit codes: 0 success; 1 the operation failed or a service is unhealthy; 2 bad usage or
bad configuration (the message names the option or variable).
"""

from __future__ import annotations

from services.unified.cli.main import main

__all__ = ["main"]
