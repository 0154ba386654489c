"""Which recipe trains a run: its config's `objective` (checked against this table's keys by
studio/config.py). Each recipe is a class built from the run's context (studio/train/context.py)
and called once: setup, train, save, evaluate; it returns the closing message."""
from __future__ import annotations

from studio.train.blend import BlendRecipe
from studio.train.dpo import DpoRecipe
from studio.train.sft import SftRecipe

RECIPES = {"sft": SftRecipe, "dpo": DpoRecipe, "blend": BlendRecipe}
