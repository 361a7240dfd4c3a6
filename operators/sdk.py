"""What every Error Atlas operator shares: its typed Python entry point."""

import fiftyone.operators as foo

from .errors import EvaluationInputError


def run(operator, sample_collection, params, delegate=False):
    """Executes ``operator`` on a dataset or view like the App would.

    Returns what ``execute()`` returned, or with ``delegate=True`` the queued
    delegated operation (a dict with its ``id`` and ``run_state``). Errors are
    raised with the operator's own message.
    """
    ctx = dict(view=sample_collection.view(), params=params, request_delegation=delegate)
    result = foo.execute_operator(operator.uri, ctx)
    if getattr(result, "error", None):
        raise EvaluationInputError(result.error_message or result.error)
    return result.result if hasattr(result, "result") else result
