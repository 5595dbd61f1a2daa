"""Assets made from the integration registry: one per integration/model, one op per sync.

A sync fills all its models in one engine run (one extract, one load-and-compare), so each
sync is a ``multi_asset`` whose partition is a connection id. The engine owns the dlt
pipeline, the cursor and the snapshot compare; this op only decides the mode, calls
``SyncRunner.run_one`` and reports what it did, per model, as numeric metadata Dagster
plots over time.

Selecting one model (``--select hubspot/contacts``) still runs the whole sync — an
integration may fill its models from the same pages — and the models that were not selected
are reported as materialized too, since the run did change them.
"""

from collections.abc import Iterator
from typing import Any, get_args

from dagster import (
    AssetCheckKey,
    AssetExecutionContext,
    AssetMaterialization,
    AssetsDefinition,
    AssetSpec,
    Backoff,
    Config,
    Failure,
    Jitter,
    MaterializeResult,
    MetadataValue,
    RetryPolicy,
    TableColumn,
    TableSchema,
    multi_asset,
)
from pydantic import BaseModel, Field

from orchestration.checks import in_run_check_specs, run_evaluations
from orchestration.metadata import model_metadata
from orchestration.naming import MODE_TAG, SYNC_TYPE_TAG, model_key, sync_op_name
from orchestration.partitions import connection_partitions
from pipelines.engine.sync import SyncFailed, reset
from pipelines.home import Home
from pipelines.runs import sync_runner
from pipelines.store.connections import Connections, format_duration
from sources.errors import ConfigError, SyncsError
from sources.spec import IntegrationSpec, SyncMode, SyncSpec

RETRY_POLICY = RetryPolicy(
    max_retries=3, delay=30, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS
)
"""For transient failures only; authentication and configuration errors fail at once."""


class SyncRunConfig(Config):
    full_refresh: bool = Field(
        default=False,
        description="List every record and infer deletions (the run tag syncs/mode=full does the same).",
    )
    reset: bool = Field(
        default=False,
        description="Forget the connection's cursors before the run, so it lists everything again.",
    )
    confirm_deletions: bool = Field(
        default=False,
        description=(
            "With full_refresh (or reset): apply every deletion the full listing finds, past "
            "the mass-deletion limit that holds them otherwise."
        ),
    )


def _column_type(annotation: Any) -> str:
    names = [a.__name__ for a in get_args(annotation) or (annotation,) if a is not type(None)]
    return " | ".join(str(n) for n in names) or "any"


SYNC_COLUMNS = [
    TableColumn("_syncs_first_seen_at", "datetime", description="When syncs first saw the record."),
    TableColumn(
        "_syncs_last_modified_at", "datetime", description="When the record last changed here."
    ),
    TableColumn(
        "_syncs_last_action", "str", description="Its last change: ADDED, UPDATED or DELETED."
    ),
    TableColumn(
        "_syncs_deleted_at",
        "datetime",
        description="When it was deleted (the row stays, soft-deleted); null while it lives.",
    ),
    TableColumn("_syncs_cursor", "int", description="Change-event cursor of its last change."),
    TableColumn("_syncs_run_id", "str", description="The engine run of its last change."),
    TableColumn(
        "_syncs_rejected_reason",
        "str",
        description="Why its latest version failed validation (the row keeps the last good one).",
    ),
]


def column_schema(schema: type[BaseModel]) -> TableSchema:
    """The table's columns as users query them: the API's fields described by the model's
    own field descriptions, then what syncs keeps per record."""
    return TableSchema(
        columns=[
            TableColumn("connection_id", "str", description="The connection the record came from."),
            *(
                TableColumn(name, _column_type(field.annotation), description=field.description)
                for name, field in schema.model_fields.items()
            ),
            *SYNC_COLUMNS,
        ]
    )


def asset_description(spec: IntegrationSpec, sync: SyncSpec, model: str) -> str:
    what = spec.model(model).description or model
    return (
        f"{spec.title} {what}: table `{spec.name}.{model}` in the warehouse, one row per "
        f"record and connection (partition), kept by the sync `{sync.name}` (every "
        f"{format_duration(sync.default_frequency)} unless a connection says otherwise; a full "
        f"refresh every {format_duration(sync.full_refresh_frequency)}). Deleted records stay, "
        "soft-deleted; every change is a row of `syncs.change_events`."
    )


def run_mode(config: SyncRunConfig, tags: dict[str, str]) -> SyncMode:
    return "full" if config.full_refresh or tags.get(MODE_TAG) == "full" else "incremental"


def _failure(failure: SyncFailed) -> Failure:
    result = failure.result
    return Failure(
        description=(
            f"{result.integration}/{result.sync} for {result.connection_id} failed "
            f"({result.error_type}): {result.error}"
        ),
        metadata={
            "run_id": MetadataValue.text(result.run_id),
            "error_type": MetadataValue.text(result.error_type or ""),
            "retryable": MetadataValue.bool(failure.retryable),
            "api_requests": MetadataValue.int(result.api_requests),
        },
        allow_retries=failure.retryable,
    )


def sync_assets(
    spec: IntegrationSpec, sync: SyncSpec, *, retry_policy: RetryPolicy | None = RETRY_POLICY
) -> AssetsDefinition:
    """The assets of one sync: one per model, partitioned by the integration's connections."""
    specs = [
        AssetSpec(
            key=model_key(spec.name, name),
            group_name=spec.name,
            description=asset_description(spec, sync, name),
            kinds={"dlt", "duckdb"},
            metadata={
                "dagster/table_name": f"{spec.name}.{name}",
                "dagster/column_schema": column_schema(spec.model(name).schema),
                "sync": sync.name,
            },
        )
        for name in sync.models
    ]

    @multi_asset(
        name=sync_op_name(spec, sync),
        specs=specs,
        check_specs=in_run_check_specs(spec, sync),
        can_subset=True,
        partitions_def=connection_partitions(spec.name),
        retry_policy=retry_policy,
        description=(
            f"{spec.title} sync {sync.name!r}: {', '.join(sync.models)} for one connection, "
            f"every {format_duration(sync.default_frequency)} unless the connection says otherwise."
        ),
    )
    def _sync(context: AssetExecutionContext, config: SyncRunConfig) -> Iterator[MaterializeResult]:
        home = Home.from_env()
        connection_id = context.partition_key
        try:
            connection = Connections(home).get(connection_id)
            if connection.integration != spec.name:
                raise ConfigError(
                    f"connection {connection_id!r} belongs to {connection.integration}, "
                    f"not {spec.name}; its partition is stale and will be removed"
                )
            mode = run_mode(config, context.run.tags)
            if config.confirm_deletions and mode != "full" and not config.reset:
                raise ConfigError(
                    "confirm_deletions applies the deletions a full listing finds: set "
                    "full_refresh: true (or the run tag syncs/mode=full) as well"
                )
            if config.reset:
                cleared = reset(home, connection_id, sync.name)
                context.log.info(f"cleared {cleared} cursor(s); this run lists everything")
            result = sync_runner(home).run_one(
                connection, sync, mode=mode, confirm_deletions=config.confirm_deletions
            )
        except SyncFailed as failure:
            for evaluation in run_evaluations(home, spec, failure.result):
                context.log_event(evaluation.logged(spec.name, connection_id))
            raise _failure(failure) from failure
        except SyncsError as error:
            raise Failure(description=str(error), allow_retries=error.retryable) from error
        context.instance.add_run_tags(
            context.run.run_id, {MODE_TAG: result.mode, SYNC_TYPE_TAG: result.sync_type}
        )
        context.log.info(
            f"{result.sync_type} run {result.run_id}: "
            + ", ".join(
                f"{m} +{c.added} ~{c.updated} -{c.deleted}" for m, c in result.models.items()
            )
        )
        if result.note:
            context.log.warning(f"suspicious run {result.run_id}: {result.note}")
        selected = context.selected_asset_keys
        for model in sync.models:
            key = model_key(spec.name, model)
            metadata = model_metadata(result, model)
            if key in selected:
                yield MaterializeResult(asset_key=key, metadata=metadata)
            else:
                context.log_event(
                    AssetMaterialization(
                        asset_key=key,
                        partition=connection_id,
                        metadata=metadata,
                        description="synced by the same run as the selected assets",
                    )
                )
        selected_checks = context.selected_asset_check_keys
        for evaluation in run_evaluations(home, spec, result):
            key = AssetCheckKey(model_key(spec.name, evaluation.model), evaluation.check_name)
            if key in selected_checks:
                yield evaluation.result(spec.name)

    return _sync
