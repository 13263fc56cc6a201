"""Process measurements shared by the benchmark scripts (Linux /proc)."""

from __future__ import annotations


def rss_mb() -> float:
    """Resident set size of this process in MB, read from /proc/self/status."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("VmRSS not found in /proc/self/status (Linux only)")
