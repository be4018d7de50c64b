"""Exceptions the CLI turns into one-line messages; this module imports nothing heavy."""


class TrainingDiverged(RuntimeError):
    """The training loss became NaN or infinite."""


class Preempted(RuntimeError):
    """The job received SIGTERM or SIGUSR1; a checkpoint was written and the run can resume."""


class CheckpointError(RuntimeError):
    """A checkpoint or journal that cannot be resumed from safely."""
