"""Memory of a process as Linux reports it, for the serving-memory benchmarks
(`bench/scale.py`): resident now, by mapping, and peak; and a launcher whose child's
peak is its own.
"""

from __future__ import annotations

import resource
from pathlib import Path


def rss_mb() -> dict[str, float]:
    """This process's resident memory now: all, anonymous and file-backed (MB)."""
    out = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile"):
                out[key] = int(value.split()[0]) / 1024
    return out


def mapped_rss_mb(paths: list[Path]) -> dict[str, float]:
    """Resident MB of this process's memory mappings of each file (/proc/self/smaps): how
    much of a memory-mapped index or postings file searches have paged in."""
    wanted = {str(p.resolve()): p.name for p in paths}
    out = dict.fromkeys(wanted.values(), 0.0)
    current = None
    with open("/proc/self/smaps") as fh:
        for line in fh:
            head = line.split()
            if head and "-" in head[0] and not head[0].endswith(":"):  # a mapping's first line
                current = wanted.get(head[5]) if len(head) >= 6 else None  # 5: anonymous
            elif current is not None and head and head[0] == "Rss:":
                out[current] += int(head[1]) / 1024
    return out


def peak_rss_mb() -> float:
    """This process's peak RSS. Not getrusage's ru_maxrss: Linux carries that across
    fork/exec from the parent's high-water mark, so a child spawned by a 2 GB parent
    reports 2 GB. VmHWM belongs to the process's own address space."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# Runs a command and prints its wall time and peak RSS. The command is spawned from this
# small process, so the ru_maxrss it inherits is ~10 MB, not the measuring process's GB.
LAUNCHER = """
import resource, subprocess, sys, time
t = time.perf_counter()
subprocess.run(sys.argv[1:], check=True, capture_output=True)
wall = time.perf_counter() - t
print(wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
"""
