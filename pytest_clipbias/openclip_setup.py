"""open_clip set-up shared by model loading and demo training: configs and quiet random init.

Kept apart from ``model`` so that ``demo.train`` (which ``model`` calls to
obtain demo weights) can use it without importing ``model`` back.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

CONFIG_DIR = Path(__file__).parent / "model_configs"


def register_configs() -> None:
    """Make this package's open_clip configs (clipbias-tiny, clipbias-demo) known to open_clip."""
    import open_clip

    if "clipbias-tiny" not in open_clip.list_models():
        open_clip.add_model_config(CONFIG_DIR)


class _DropRandomInitWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "initialized randomly" not in record.getMessage()


@contextlib.contextmanager
def quiet_random_init_warning() -> Iterator[None]:
    """Silence open_clip's root-logger warning about random init: here it is intended."""
    root, flt = logging.getLogger(), _DropRandomInitWarning()
    root.addFilter(flt)
    try:
        yield
    finally:
        root.removeFilter(flt)
