"""Shared core: settings, Redis, database, serialization, logging, blueprints.

Nothing here imports a service package; services import from here.
"""
