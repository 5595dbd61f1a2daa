"""The sync engine: connections, running a sync, change detection. Dagster-free."""

import os

os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
os.environ.setdefault("RUNTIME__LOG_LEVEL", "WARNING")
