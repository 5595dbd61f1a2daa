"""The sync engine: connections, running a sync, change detection. Dagster-free."""
