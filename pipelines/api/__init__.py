"""The records API served by ``syncs serve``: records, changes, sync status, triggers."""
