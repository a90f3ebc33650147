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


_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4  # glibc's mallopt parameters (malloc.h)
KEEP_BYTES = (
    2**31 - 1
)  # freed memory at the heap's top goes back to the OS only past this (mallopt's int)


def keep_freed_pages() -> bool:
    """Make glibc's malloc keep the memory it frees for the next allocation instead of handing it back to
    the OS: no ``mmap`` for large blocks (each fresh one costs a page fault per 4 kB on first touch) and no
    trimming of the heap's top. A training step allocates and frees the same large activations every
    step, and the emulator its rasters every chunk; on these VMs the page faults cost a noticeable share
    (CIFARNet 1/8, 12 training steps: 381 k page faults -> 129 k, 1.5 s of system time -> 0.7 s; PilotNet
    in the emulator: 481 -> 560 inferences/s). Small allocations split some freed blocks at first, so the
    heap grows for a few steps before the same work stops faulting (a synthetic step of 152 MB of large
    blocks settled after 3-9 rounds, 0.1-0.5 GB above its first round's resident size; the training
    benchmark's peaks were no larger). The process's resident memory then stays near its peak instead of falling. Process-wide,
    so the commands that own their process call it (``train``, ``simulate``); True where it took effect
    (glibc), False elsewhere (musl, macOS, Windows: their allocators are left alone)."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        if not hasattr(libc, "gnu_get_libc_version"):
            return False
        return bool(libc.mallopt(_M_MMAP_MAX, 0)) and bool(
            libc.mallopt(_M_TRIM_THRESHOLD, KEEP_BYTES)
        )
    except (OSError, AttributeError, TypeError):
        return False
