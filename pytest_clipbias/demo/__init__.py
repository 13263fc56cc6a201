"""Built-in demo CLIP models with planted biases: ``--clip-model demo`` and ``demo-fair``."""

from .world import DEMO_MODELS, WorldSpec, world_spec

__all__ = ["DEMO_MODELS", "WorldSpec", "world_spec"]
