"""How much memory a new allocation can use, and the one-line refusal of work that would not fit, so that
a crafted or oversized file is refused before anything is allocated (no allocator traceback, no swap
storm that Ctrl-C cannot stop)."""

from __future__ import annotations

UNKNOWN = 1 << 62  # where the OS does not say: never refuse on a guess


def available_bytes() -> int:
    """The OS's MemAvailable (Linux), else UNKNOWN."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return UNKNOWN


def refuse_over(need: int, what: str, fix: str, share: float = 0.9) -> None:
    """ConfigError naming ``what`` needs ``need`` bytes when more than ``share`` of the available memory."""
    free = available_bytes()
    if need > share * free:
        from .errors import ConfigError

        raise ConfigError(
            f"{what} needs about {need / 1e9:.1f} GB, but this machine has {free / 1e9:.1f} GB "
            f"free; {fix}"
        )
