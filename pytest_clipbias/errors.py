"""Exceptions raised by pytest-clipbias.

Every error names what went wrong (the model, tag, file, row or parameter)
and says what to do about it, so a CI log is enough to fix the problem.
"""

from __future__ import annotations


class ClipBiasError(Exception):
    """Base class of every error raised by pytest-clipbias."""


class ModelUnavailableError(ClipBiasError):
    """A model or its weights cannot be loaded (unknown name, offline, missing file)."""


class ImageLoadError(ClipBiasError, ValueError):
    """An image cannot be read or decoded; the message names the file or item."""


class ConfigurationError(ClipBiasError, ValueError):
    """An option, ini key or environment variable has an invalid value."""


class OutputError(ClipBiasError, OSError):
    """A report, baseline or cache file cannot be written where asked; names the path."""
