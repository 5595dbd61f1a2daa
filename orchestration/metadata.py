"""What Dagster shows of a sync run, per model: numbers it can plot, and what the run was."""

from dagster import MetadataValue

from pipelines.engine.results import SyncResult


def model_metadata(result: SyncResult, model: str) -> dict[str, MetadataValue]:
    """What one run did to one model; numbers stay numbers so Dagster plots them."""
    counts = result.models[model]
    metadata: dict[str, MetadataValue] = {
        "added": MetadataValue.int(counts.added),
        "updated": MetadataValue.int(counts.updated),
        "deleted": MetadataValue.int(counts.deleted),
        "unchanged": MetadataValue.int(counts.unchanged),
        "rejected": MetadataValue.int(counts.rejected),
        "fetched": MetadataValue.int(counts.fetched),
        "rows_total": MetadataValue.int(counts.rows_total),
        "dagster/row_count": MetadataValue.int(counts.rows_total),
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
        metadata["first_cursor"] = MetadataValue.int(counts.first_cursor)
    if counts.last_cursor is not None:
        metadata["last_cursor"] = MetadataValue.int(counts.last_cursor)
    return metadata
