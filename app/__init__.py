"""Old import paths, kept as thin re-exports of `services.*` during the migration."""
