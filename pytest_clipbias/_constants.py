"""Choices shared by the options (settings.py) and the model, kept free of heavy imports."""

DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("fp32", "fp16", "bf16")
