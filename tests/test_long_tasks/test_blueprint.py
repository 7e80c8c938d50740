"""The minute poll cron is the same in the legacy and the unified worker settings."""

from __future__ import annotations

import pytest
from arq.utils import import_string

from services.long_tasks.registry import import_handler_modules
from tests.support.services import LEGACY_SETTINGS, UNIFIED_SETTINGS


def test_poll_cron_identical_in_legacy_and_unified() -> None:
    crons = []
    for path in (LEGACY_SETTINGS["long_tasks"], UNIFIED_SETTINGS):
        (cron,) = [c for c in import_string(path).cron_jobs if c.name == "cron:long_tasks_poll"]
        crons.append((cron.name, cron.second, cron.minute, cron.keep_result_s, cron.max_tries))
    assert crons[0] == crons[1] == ("cron:long_tasks_poll", 0, None, 86400, 1)


def test_unknown_handler_module_is_named() -> None:
    with pytest.raises(ImportError, match=r"LONG_TASK_MODULES: cannot import 'no_such\.module'"):
        import_handler_modules(["", " no_such.module "])
