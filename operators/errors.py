"""Errors that operators report to the user as they are."""


class EvaluationInputError(ValueError):
    """Bad input: the message names the field and the fix; nothing was written."""
