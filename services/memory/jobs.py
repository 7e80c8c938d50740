"""arq job functions and cron jobs of the memory subsystem."""
