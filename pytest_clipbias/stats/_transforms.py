"""The arcsine transform of Cohen's h, g(p) = 2 asin sqrt(p), and its inverse."""

from __future__ import annotations

import numpy as np


def arcsine(p):
    """g(p) = 2 asin sqrt(p) (Cohen 1988, sec. 6.2); p is clipped to [0, 1]."""
    return 2.0 * np.arcsin(np.sqrt(np.clip(p, 0.0, 1.0)))


def from_arcsine(phi):
    """g^-1(phi) = sin^2(phi / 2), phi clipped to [0, pi]."""
    return np.sin(np.clip(phi, 0.0, np.pi) / 2.0) ** 2
