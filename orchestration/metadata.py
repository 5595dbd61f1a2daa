"""What Dagster shows of a sync run, per model: numbers it can plot, and what the run was."""

from dagster import MetadataValue

from pipelines.engine.results import SyncResult


def model_metadata(result: SyncResult, model: str) -> dict[str, MetadataValue]:
    """What one run did to one connection's rows of one model; counts and timings stay
    numbers, so Dagster plots them per connection (partition).

    ``rows_total`` is the connection's live rows; ``dagster/row_count``, which Dagster shows
    as the asset's row count, is the whole table's (every connection's), so the asset page
    no longer flips between connections. Where an app resumes reading this run's changes
    is text (``changes_from_cursor``, for ``GET /records?cursor=...``): a cursor is an
    identifier, not a quantity to plot."""
    counts = result.models[model]
    metadata: dict[str, MetadataValue] = {
        "added": MetadataValue.int(counts.added),
        "updated": MetadataValue.int(counts.updated),
        "deleted": MetadataValue.int(counts.deleted),
        "unchanged": MetadataValue.int(counts.unchanged),
        "rejected": MetadataValue.int(counts.rejected),
        "fetched": MetadataValue.int(counts.fetched),
        "rows_total": MetadataValue.int(counts.rows_total),
        "dagster/row_count": MetadataValue.int(counts.table_rows),
        "api_requests": MetadataValue.int(result.api_requests),
        "duration_seconds": MetadataValue.float(round(result.duration_seconds, 3)),
        "sync_type": MetadataValue.text(result.sync_type),
        "mode": MetadataValue.text(result.mode),
        "run_id": MetadataValue.text(result.run_id),
        "started_at": MetadataValue.timestamp(result.started_at),
        "suspicious": MetadataValue.bool(counts.suspicious),
        "deletions_held": MetadataValue.int(counts.deletions_held),
    }
    if counts.note:
        metadata["note"] = MetadataValue.text(counts.note)
    for stage, seconds in result.timings.items():
        metadata[f"{stage}_seconds"] = MetadataValue.float(round(seconds, 3))
    if counts.first_cursor is not None:
        metadata["changes_from_cursor"] = MetadataValue.text(str(counts.first_cursor - 1))
    return metadata
