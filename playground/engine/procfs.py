"""Readings of a process from Linux's /proc (None or nothing elsewhere): its children, its
resident memory, its CPU time. The worker reports its own RSS; the bench reads the server's,
the worker's and the browser's."""
from __future__ import annotations

import os
from pathlib import Path


def children(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").glob("[0-9]*"):
        try:
            fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            out.append(int(d.name))
    return out


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds a process has used so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def cpu_seconds_named(prefix: str) -> float:
    """CPU seconds used so far by every process whose name starts with `prefix` (the browser)."""
    total = 0.0
    for d in Path("/proc").glob("[0-9]*"):
        try:
            if (d / "comm").read_text().startswith(prefix):
                total += cpu_seconds(int(d.name)) or 0.0
        except OSError:
            continue
    return total
