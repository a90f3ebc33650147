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
