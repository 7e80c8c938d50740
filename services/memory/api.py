"""What producers call to use the memory subsystem."""
