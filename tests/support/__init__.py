"""Test helpers: real services, real worker processes, polling with deadlines."""
