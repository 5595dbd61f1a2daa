"""Errors every layer raises and the CLI turns into one clear line."""

from __future__ import annotations


class SyncsError(Exception):
    """An error the user can act on; its message says what was wrong and what to do."""

    retryable = False


class ConfigError(SyncsError):
    """Bad input from the user: unknown name, bad config key, missing credential."""


class AuthenticationError(SyncsError):
    """The external API refused the connection's credentials (401/403)."""


class TransientError(SyncsError):
    """A failure worth retrying later: network, exhausted 5xx or 429 retries."""

    retryable = True


class WarehouseBusyError(TransientError):
    """The warehouse stayed locked by another writer for longer than we wait."""


class RunInProgressError(TransientError):
    """Another run of the same connection and sync is going on; this one was refused."""


class OutOfDiskError(SyncsError):
    """A write under ``SYNCS_HOME`` failed for want of space (or of a file-size allowance)."""


class ApiError(SyncsError):
    """The external API answered a request with an error that retrying will not fix."""
