"""Durable long tasks: PostgreSQL state, leases, checkpoints."""
