"""What every Error Atlas operator shares: its typed Python entry point.

A typed call (``get_operator(uri)(dataset, ...)``) runs the operator the way
``fiftyone.operators.execute_operator`` does (the same ``resolve_input``
validation, execution options, progress and result) on the caller's own
collection object. FiftyOne's executor instead loads the dataset with
``reload=True``, which re-reads every in-memory ``Sample`` from the database
one by one (~30 ms each): a user who kept the samples passed to
``add_samples()`` would pay seconds per call. Delegated runs are queued by
FiftyOne's executor as before.
"""

import asyncio

import fiftyone.operators as foo
from fiftyone.operators.executor import (
    ExecutionContext, ExecutionResult, Executor, ValidationContext)

from . import labels_io
from .errors import EvaluationInputError


def run(operator, sample_collection, params, delegate=False):
    """Executes ``operator`` on a dataset or view like the App would.

    Returns what ``execute()`` returned, or with ``delegate=True`` the queued
    delegated operation (a dict with its ``id`` and ``run_state``). Errors are
    raised with the operator's own message.
    """
    if delegate:
        ctx = dict(view=sample_collection.view(), params=params, request_delegation=True)
        result = foo.execute_operator(operator.uri, ctx)
        if getattr(result, "error", None):
            raise EvaluationInputError(result.error_message or result.error)
        return result.result if hasattr(result, "result") else result
    return execute(operator, sample_collection, params)


def execute(operator, sample_collection, params):
    """Runs ``operator.execute`` now on ``sample_collection``, without reloading
    the dataset's in-memory samples first (see the module docstring)."""
    dataset = sample_collection._root_dataset
    ctx = ExecutionContext(
        request_params=dict(dataset_name=dataset.name, dataset_id=str(dataset._doc.id),
                            view=sample_collection.view()._serialize(), params=dict(params)),
        executor=Executor(), operator_uri=operator.uri,
        required_secrets=operator._plugin_secrets,
    )
    dataset._reload(hard=True)  # the dataset's own document, as the executor's load does
    ctx._dataset = dataset
    if operator._plugin_secrets:
        asyncio.run(ctx.resolve_secret_values(operator._plugin_secrets))
    with ctx:
        inputs = operator.resolve_input(ctx)
    validation = ValidationContext(ctx, inputs, operator)
    if validation.invalid:
        raise ExecutionResult(error="Validation error", validation_ctx=validation).to_exception()
    with ctx:
        options = operator.resolve_execution_options(ctx)
    if not options.allow_immediate_execution:
        return run(operator, sample_collection, params, delegate=True)
    with ctx, labels_io.batched_sample_reloads(dataset):
        return operator.execute(ctx)
