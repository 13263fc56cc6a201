"""Live progress of long work (embedding, morph building, demo training) in pytest's terminal.

Writes through the terminal reporter with capture suspended, as pytest's own
live logging does, so it shows while a test body runs even with capture on.
Silent under ``-q``, in xdist workers and outside pytest; work that finishes
within ``DELAY_S`` seconds prints nothing at all.

    bar = progress("encoding images (ViT-B-32)", total=756)
    for batch in batches:
        ...
        bar.update(len(batch))
    bar.close()

or ``with progress(...) as bar:``.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

DELAY_S = 2.0  # work shorter than this shows nothing
TTY_INTERVAL_S = 0.25  # redraw rate on a terminal
LOG_INTERVAL_S = 15.0  # one line per interval when the output is a log file

_config: Any = None  # the pytest config of the running session (controller only)


def attach(config: Any) -> None:
    """Send progress to this session's terminal (called by the plugin at configure time)."""
    global _config
    _config = config


def detach(config: Any) -> None:
    """Stop writing to ``config``'s terminal (called at unconfigure)."""
    global _config
    if _config is config:
        _config = None


def _reporter() -> Any:
    config = _config
    if config is None or hasattr(config, "workerinput") or config.get_verbosity() < 0:
        return None
    return config.pluginmanager.get_plugin("terminalreporter")


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


class Progress:
    """Counts units of work and redraws one status line: count, rate and ETA."""

    def __init__(self, description: str, total: int | None, unit: str, reporter: Any) -> None:
        self.description, self.total, self.unit = description, total, unit
        self.count = 0
        self._reporter = reporter
        self._start = self._last = time.monotonic()
        self._shown = False
        self._closed = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def line(self, now: float | None = None) -> str:
        """The status text, e.g. "encoding images 256/756 (34%), 5.1 images/s, ETA 1m38s"."""
        elapsed = max((now or time.monotonic()) - self._start, 1e-9)
        rate = self.count / elapsed
        done = f"{self.count}/{self.total} ({100 * self.count / self.total:.0f}%)" if (
            self.total) else f"{self.count}"
        text = f"clipbias: {self.description} {done}, {rate:.1f} {self.unit}/s"
        if self._closed:
            return f"{text}, {_duration(elapsed)}"
        if self.total and rate > 0 and self.count < self.total:
            text += f", ETA {_duration((self.total - self.count) / rate)}"
        return text

    def update(self, n: int = 1) -> None:
        """Add ``n`` finished units; redraws at most every few hundred ms."""
        self.count += n
        if self._reporter is None:
            return
        now = time.monotonic()
        interval = TTY_INTERVAL_S if self._reporter.isatty else LOG_INTERVAL_S
        if now - self._start >= DELAY_S and (not self._shown or now - self._last >= interval):
            self._last = now
            self._write(self.line(now), final=False)

    def close(self) -> None:
        """Finish the line (only if anything was shown); idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._reporter is not None and self._shown:
            self._write(self.line(), final=True)

    def _write(self, text: str, *, final: bool) -> None:
        tr = self._reporter
        capman = tr.config.pluginmanager.get_plugin("capturemanager")
        guard = capman.global_and_fixture_disabled() if capman else contextlib.nullcontext()
        with guard:
            if not self._shown:
                tr.ensure_newline()
                self._shown = True
            if tr.isatty:
                tr.rewrite(text, erase=True)
                if final:
                    tr.write("\n")
            else:
                tr.write_line(text)
            tr.flush()


def progress(description: str, total: int | None = None, *, unit: str = "images") -> Progress:
    """Start a progress line for ``total`` units (None when unknown) of ``unit``.

    Returns an object with ``update(n)`` and ``close()`` (also a context
    manager). Cheap when nothing is shown, so call it around any loop.
    """
    return Progress(description, total, unit, _reporter())
