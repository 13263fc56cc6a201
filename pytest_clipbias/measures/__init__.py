"""Bias measures: pure functions of embeddings and scores (numpy/scipy; no torch, no pytest)."""
