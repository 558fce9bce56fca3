"""How much memory this process may still take: the machine's, and what its rlimits and its cgroup leave (Linux).

A pre-check that reads only the machine's free memory passes under `ulimit -v` or a container's limit, and the
allocation then fails halfway with a traceback; `memory_room` is the least of all of them, and says which it is.
"""

from __future__ import annotations

import os
import resource
from pathlib import Path

UNLIMITED = 1 << 60  # cgroup v1 writes "no limit" as a number near 2**63


def memory_room() -> tuple[int, str] | None:
    """(bytes, what sets them): the least of the memory available on the machine, what the address-space and
    data rlimits leave (`ulimit -v`, `ulimit -d`) and what the cgroup's limit leaves; None if none can be read."""
    rooms = [room for room in (_machine(), *_rlimits(), _cgroup()) if room is not None]
    return min(rooms, key=lambda room: room[0]) if rooms else None


def _machine() -> tuple[int, str] | None:
    try:
        meminfo = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
        return int(meminfo["MemAvailable"].split()[0]) * 1024, "memory available on this machine"
    except (OSError, KeyError, ValueError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"), "memory available on this machine"
    except (ValueError, OSError, AttributeError):
        return None


def _rlimits() -> list[tuple[int, str] | None]:
    rooms = []
    for limit, used_key, name in (
        (resource.RLIMIT_AS, "VmSize", "the address-space limit, ulimit -v (RLIMIT_AS)"),
        (resource.RLIMIT_DATA, "VmData", "the data-segment limit, ulimit -d (RLIMIT_DATA)"),
    ):
        soft = resource.getrlimit(limit)[0]
        if soft == resource.RLIM_INFINITY:
            continue
        rooms.append((max(0, soft - _status_bytes(used_key)), name))
    return rooms


def _status_bytes(key: str) -> int:
    try:
        line = next(line for line in Path("/proc/self/status").read_text().splitlines() if line.startswith(key))
        return int(line.split()[1]) * 1024
    except (OSError, StopIteration, ValueError):
        return 0


def _cgroup() -> tuple[int, str] | None:
    """What this process's memory cgroup leaves: v2 memory.max - memory.current, v1 limit_in_bytes - usage.
    Inside a container's cgroup namespace its own cgroup is the mount's root, so that is read too."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":
            mount, files = Path("/sys/fs/cgroup"), ("memory.max", "memory.current")
        elif "memory" in controllers.split(","):
            mount, files = Path("/sys/fs/cgroup/memory"), ("memory.limit_in_bytes", "memory.usage_in_bytes")
        else:
            continue
        for folder in (mount / path.lstrip("/"), mount):
            try:
                text = (folder / files[0]).read_text().strip()
                used = int((folder / files[1]).read_text())
            except (OSError, ValueError):
                continue
            limit = UNLIMITED if text == "max" else int(text)
            if limit < UNLIMITED:
                return max(0, limit - used), f"the cgroup's memory limit ({files[0]})"
            break
    return None


def out_of_memory(exc: MemoryError) -> str:
    """An allocation that failed, as one line: what it asked for (numpy says) and what this process may use."""
    asked = str(exc).strip() or "an allocation failed"
    room = memory_room()
    left = f"; {room[0] / 1e9:.1f} GB is left to this process ({room[1]})" if room is not None else ""
    return f"out of memory: {asked}{left}; use less data, or a model that needs less"
