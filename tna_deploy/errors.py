"""Expected errors. The CLI turns each into one line on stderr and a non-zero exit."""


class TnaError(Exception):
    """An error the user can fix; its message names what is wrong and how to fix it."""

    exit_code = 2


class ConfigError(TnaError):
    """Impossible or inconsistent settings."""


class DataError(TnaError):
    """A dataset is missing, unreadable or malformed."""


class CheckpointError(TnaError):
    """A run directory or checkpoint is missing, corrupt or does not match."""


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
    shown = " ".join(repr(found).split())
    shown = shown if len(shown) <= 40 else f"a {type(found).__name__}"
    return f"{what} version is {shown}, expected a number ({current}); {redo}"
