"""The dlt source of one run: pages from the integration, Arrow tables to dlt."""

from __future__ import annotations

import gc
from collections.abc import Iterator, Mapping, Sequence
from itertools import chain
from typing import Any

import dlt

from sources.http import prefetch
from sources.records import Batch, RecordBatcher
from sources.spec import ExtractContext, IntegrationSpec, Page, Progress, RecordRef


def build_source(
    spec: IntegrationSpec[Any, Any],
    ctx: ExtractContext[Any, Any],
    run_id: str,
    progress: Progress | None = None,
    due: Mapping[str, Sequence[RecordRef]] | None = None,
) -> Any:
    """Every table of ``ctx.sync`` replaced in the landing area, from ``record_batches``:
    one resource whose tables the engine's compare merges."""

    @dlt.resource(name=ctx.sync.name, write_disposition="replace")
    def records() -> Iterator[Any]:
        for name, table in record_batches(spec, ctx, run_id, progress, due):
            yield dlt.mark.with_table_name(table, name)

    @dlt.source(name=spec.name, max_table_nesting=0)
    def source() -> Any:
        return records

    return source()


def record_batches(
    spec: IntegrationSpec[Any, Any],
    ctx: ExtractContext[Any, Any],
    run_id: str,
    progress: Progress | None = None,
    due: Mapping[str, Sequence[RecordRef]] | None = None,
) -> Iterator[Batch]:
    """The run's validated Arrow tables, ``(table name, table)``: each model's, the rejected
    records' and the tombstones' (``sources.records``).

    The integration's pages are fetched in a thread, ahead of their validation and
    conversion here: its extract's, then those of the records ``due`` to be read again by
    id (rejected last time), which a model's full listing reads anyway.
    """
    # Pages churn through millions of short-lived objects, and every full collection
    # would walk the whole long-lived heap (dlt, pydantic and their modules) again:
    # measured at 3 s of a 1M-record run. Frozen objects are skipped until the run ends.
    gc.freeze()
    try:
        batcher = RecordBatcher(spec.name, spec.models, run_id)
        pages: dict[str, int] = {}
        counts: dict[str, int] = {}
        for page in prefetch(chain(spec.extract(ctx), fetch_due(spec, ctx, due or {}))):
            if progress is not None:
                pages[page.model] = pages.get(page.model, 0) + 1
                counts[page.model] = counts.get(page.model, 0) + len(page.records)
                progress(page.model, pages[page.model], counts[page.model])
            yield from batcher.add(page)
        yield from batcher.flush()
    finally:
        gc.unfreeze()


def fetch_due(
    spec: IntegrationSpec[Any, Any],
    ctx: ExtractContext[Any, Any],
    due: Mapping[str, Sequence[RecordRef]],
) -> Iterator[Page]:
    """Pages of the due records of the models this run does not list whole."""
    if spec.fetch is None:
        return
    for model, refs in due.items():
        if refs and model in ctx.cursors and not ctx.cursor(model).full_listing:
            yield from spec.fetch(ctx, model, refs)
