"""The long_tasks blueprint: its job functions, cron jobs and lifecycle hooks."""

from __future__ import annotations

from services.core.blueprint import Blueprint

blueprint = Blueprint("long_tasks")
