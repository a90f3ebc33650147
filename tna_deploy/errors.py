"""Expected errors. The CLI turns each into one line on stderr and a non-zero exit (``--debug`` or
``TNA_DEBUG=1`` shows the traceback too).

Every error class a user can meet, and where it is raised:

    TnaError             the base: a problem the user can fix, exit 2
      ConfigError        impossible or inconsistent settings, a missing extra (train, every command)
      DataError          a dataset missing, unreadable or malformed (data/)
      CheckpointError    a run folder, checkpoint, results.json or report input that is missing or damaged
      FormatError        a netx or ONNX file that cannot be read or run (ir/)
      ExportError        a network Loihi 2 or a format cannot take as it stands (export/, models/chip)
      SimulationError    a backend failed or refused its input (simulate/)
      TrainingDiverged   the loss became NaN or infinite, or the network stopped depending on its input: exit 3
    Stopped              SIGTERM during a long run, handled like Ctrl-C (a KeyboardInterrupt): exit 143
"""


class TnaError(Exception):
    """An error the user can fix; its message names what is wrong and how to fix it."""

    exit_code = 2


class ConfigError(TnaError):
    """Impossible or inconsistent settings."""


class DataError(TnaError):
    """A dataset is missing, unreadable or malformed."""


class CheckpointError(TnaError):
    """A run directory or checkpoint is missing, corrupt or does not match."""


class FormatError(TnaError):
    """A netx or ONNX file that cannot be read, or holds something tna-deploy cannot run."""


class ExportError(TnaError):
    """The network cannot be mapped to Loihi 2, or written in a format, as it stands."""


class SimulationError(TnaError):
    """A simulation backend failed or refused its input."""


class Stopped(KeyboardInterrupt):
    """SIGTERM during a long run: stopped and cleaned up like Ctrl-C, but exits 143."""

    exit_code = 143


class TrainingDiverged(TnaError):
    """The loss became NaN or infinite."""

    exit_code = 3


def version_problem(found, current: int, what: str, redo: str):
    """None when a file's format version ``found`` is ``current``; otherwise the one-line reason, which says
    to upgrade tna-deploy for a newer file and to ``redo`` (re-export, re-run ...) an older or unnumbered one."""
    if isinstance(found, int) and not isinstance(found, bool):
        if found == current:
            return None
        if found > current:
            return (
                f"written by a newer tna-deploy ({what} version {found}; this one reads {current}); "
                f"upgrade tna-deploy"
            )
        return f"{what} version {found} is older than {current}; {redo}"
    from .checks import shown

    return f"{what} version is {shown(found)}, expected a number ({current}); {redo}"
