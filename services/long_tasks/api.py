"""What producers call to use the long_tasks subsystem."""
