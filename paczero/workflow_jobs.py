"""Start-up and error reporting shared by the workflow's job scripts (workflow/scripts/).

A job script sends its log records and tracebacks to the rule's log file.
An error on bad input or a known failure then ends the job with exit code 1
and one line, written both to the log file and to the console that started
the job, instead of a traceback.
"""

from __future__ import annotations

import logging
import sys
import traceback
from contextlib import contextmanager

logger = logging.getLogger("paczero.workflow")

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def open_job_log(path: str, append: bool = False) -> None:
    """Send stderr and every log record of this process to `path` (appended when `append`)."""
    log_file = open(path, "a" if append else "w", buffering=1, encoding="utf-8")
    sys.stderr = log_file
    logging.basicConfig(stream=log_file, level=logging.INFO, format=LOG_FORMAT, force=True)


@contextmanager
def report_errors(label: str, expected: tuple[type[BaseException], ...] = (ValueError, FileNotFoundError)):
    """End the job with exit code 1 and one line `<label> failed: <error>` when the block raises.

    Errors of the `expected` types are reported by their message alone. Any
    other error also gets its traceback in the log file, because it points
    at a bug rather than at the input.
    """
    try:
        yield
    except expected as error:
        _fail(label, error, with_traceback=False)
    except Exception as error:  # noqa: BLE001 - every failure must end the job with its message
        _fail(label, error, with_traceback=True)


def _fail(label: str, error: BaseException, with_traceback: bool) -> None:
    message = f"{label} failed: {type(error).__name__}: {error}"
    logger.error(message)
    if with_traceback:
        logger.error("traceback:\n%s", "".join(traceback.format_exception(error)).rstrip())
    if sys.__stderr__ is not None and sys.__stderr__ is not sys.stderr:
        sys.__stderr__.write(f"paczero: {message}\n")
        sys.__stderr__.flush()
    raise SystemExit(1) from None
