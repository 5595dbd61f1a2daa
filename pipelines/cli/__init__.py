"""The ``syncs`` command and the demo."""
