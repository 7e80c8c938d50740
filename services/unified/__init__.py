"""The unified worker: long tasks and memory in one arq worker, plus transition shims."""
