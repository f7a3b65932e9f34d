"""Memory checks before the work: estimate what an input asks for, refuse what does
not fit in the memory the operating system says is available.

:func:`require` raises :class:`MemoryLimitError` (a ``ValueError``: bad input, CLI
exit 2) with the estimate and the available memory, before anything is allocated.
"""

from __future__ import annotations

import os

__all__ = ["MemoryLimitError", "available_bytes", "require", "format_bytes"]

#: Share of the available memory one request may take (the rest: the interpreter,
#: numba's threads, the operating system's caches, other programs).
USABLE_FRACTION = 0.8


class MemoryLimitError(ValueError):
    """A request would need more memory than is available (estimated up front)."""


def format_bytes(n: float) -> str:
    """``1.5 GiB``, ``320.0 MiB``, ``12.0 KiB``, ``17 bytes``."""
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} bytes"


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _cgroup_available() -> int | None:
    """Room left under a cgroup v2 memory limit (containers), if there is one."""
    try:
        with open("/sys/fs/cgroup/memory.max", encoding="ascii") as fh:
            text = fh.read().strip()
        if text == "max":
            return None
        with open("/sys/fs/cgroup/memory.current", encoding="ascii") as fh:
            used = int(fh.read().strip())
        return max(int(text) - used, 0)
    except (OSError, ValueError):
        return None


def available_bytes() -> int | None:
    """Memory available to this process now: ``MemAvailable`` of ``/proc/meminfo``,
    less under a cgroup limit; None when the operating system does not say."""
    found = [v for v in (_meminfo_available(), _cgroup_available()) if v is not None]
    if not found:
        try:
            found.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (ValueError, OSError, AttributeError):
            return None
    return min(found)


def require(nbytes: float, what: str, advice: str = "") -> None:
    """Refuse ``nbytes`` (an estimate) when it exceeds the usable available memory.

    Parameters
    ----------
    nbytes : float
        Estimated peak bytes of the request.
    what : str
        What needs them, with the formula (``"snapshots (replicates x (steps + 1)
        x size**2 bytes)"``); starts the message.
    advice : str
        How to ask for less (``"reduce --replicates or --steps"``).

    Raises
    ------
    MemoryLimitError
    """
    avail = available_bytes()
    if avail is None:
        return
    usable = USABLE_FRACTION * avail
    if nbytes > usable:
        tail = f"; {advice}" if advice else ""
        raise MemoryLimitError(
            f"{what} would need {format_bytes(nbytes)} but {format_bytes(avail)} of "
            f"memory are available (allowed at most {format_bytes(usable)}){tail}"
        )
