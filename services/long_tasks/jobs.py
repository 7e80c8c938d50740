"""arq job functions and cron jobs of the long_tasks subsystem."""
