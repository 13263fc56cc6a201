"""Fail fast when the Hugging Face Hub cannot be reached.

huggingface_hub retries a host it cannot reach for about a minute (five
retries with back-off) before it raises, so an offline ``--clip-model
ViT-B-32`` used to wait 57 s for its error. :func:`offline_unless_reachable`
probes the Hub (or the HTTPS proxy in front of it) with one TCP connection
of at most ``PROBE_TIMEOUT`` seconds first; when that fails it switches the
Hub's offline mode on for the load, so weights already in the local cache
still load and anything else fails at once with the offline fixes.
``HF_HUB_OFFLINE=1`` skips the probe (the Hub library is offline already).
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections.abc import Iterator
from urllib.parse import urlparse

PROBE_TIMEOUT = 3.0


def hub_address() -> tuple[str, int]:
    """Host and port a Hub download connects to first: the HTTPS proxy, else HF_ENDPOINT."""
    proxy = os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy")
    url = urlparse(proxy or os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    return url.hostname or "huggingface.co", url.port or (443 if url.scheme != "http" else 80)


def reachable(timeout: float = PROBE_TIMEOUT) -> bool:
    """True when a TCP connection to :func:`hub_address` opens within ``timeout`` seconds.

    The probe runs in a daemon thread: the socket timeout does not bound a
    name lookup, and a stalled resolver must not stall the load either.
    """
    host, port = hub_address()
    opened: list[bool] = []

    def probe() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
        except OSError:  # no DNS, no route, refused, timed out
            return
        opened.append(True)

    thread = threading.Thread(target=probe, name="clipbias-hub-probe", daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(opened)


@contextlib.contextmanager
def offline_unless_reachable() -> Iterator[bool]:
    """Run a load with the Hub's offline mode on when it cannot be reached; yields True then."""
    try:
        from huggingface_hub import constants
    except ImportError:  # pragma: no cover - open_clip downloads by URL without it
        yield False
        return
    if constants.HF_HUB_OFFLINE or reachable():
        yield bool(constants.HF_HUB_OFFLINE)
        return
    constants.HF_HUB_OFFLINE = True
    try:
        yield True
    finally:
        constants.HF_HUB_OFFLINE = False
