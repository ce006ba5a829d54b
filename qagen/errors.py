"""qagen's exceptions.

Library code raises a ``QagenError`` subclass whose message is one sentence a user
can act on. Foreign exceptions are wrapped where they enter qagen; the CLI is the
only place that turns these into an ``error: ...`` line and an exit code.
"""


class QagenError(Exception):
    """An expected problem, explained in one sentence."""

    exit_code = 1


class ConfigError(QagenError):
    """Settings, flags, environment or config file are wrong or incomplete."""

    exit_code = 2


class CorpusError(QagenError):
    """The input folder is missing or holds nothing usable."""


class TemplateError(QagenError):
    """A chat template cannot be read, parsed or rendered."""


class ModelError(QagenError):
    """The model endpoint refused the run in a way no retry can fix (bad key, unknown model, bad request)."""


class OutputError(QagenError):
    """The out folder cannot be used or written (foreign files, different settings, full disk)."""


class BudgetReached(QagenError):
    """The --max-cost cap stopped the run: what was answered is written, and ``result`` is what the run made.

    A rerun with a higher cap continues: the journal answers what was asked, only the rest is sent.
    """

    exit_code = 7

    def __init__(self, message: str, result: object = None) -> None:
        super().__init__(message)
        self.result = result  # qagen.Result (typed loosely: errors import no stage)


class BatchExported(QagenError):
    """--batch-export wrote the requests of a step as batch input files: run them on the engine, then import the output.

    Not a failure: the message says what to run and how to continue.
    """

    exit_code = 8
