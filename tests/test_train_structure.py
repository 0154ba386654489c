"""The shape of studio/train, checked without training: every objective a recipe, and TrainState
read from checkpoints old and new (import cycles and function length: tests/test_layout.py)."""
from studio.config import OBJECTIVES
from studio.train.state import TrainState

def test_every_objective_has_a_recipe():
    from studio.train.recipes import RECIPES

    assert set(RECIPES) == set(OBJECTIVES)
    assert all(callable(getattr(recipe, name, None)) for recipe in RECIPES.values() for name in ("setup", "save", "evaluate"))


def test_train_state_reads_the_progress_dict_of_older_checkpoints():
    old = {"step": 4, "seen": 900, "queue": [3, 1], "best_loss": 2.5, "best_step": 2, "bad_evals": 1,
           "train_seconds": 12.0, "micro_batch": 2}
    assert TrainState.from_checkpoint({"progress": old}) == TrainState(**old)
    assert TrainState.from_checkpoint({"train_state": TrainState(**old).to_dict()}).to_dict() == old
    assert TrainState.from_checkpoint({"progress": {"step": 1, "seen": 5}}) == TrainState(step=1, seen=5)
