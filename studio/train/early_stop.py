"""Early stopping: stop when `patience` evaluations in a row fail to beat the best validation loss
by `min_delta`; the best adapter so far is kept so the run ends with it."""
from __future__ import annotations

from studio.messages import message
from studio.train.state import TrainState


def judge(state: TrainState, val_loss: float, step: int, patience: int, min_delta: float, keep_best) -> dict | str:
    """Record this evaluation in `state`; keep_best() on an improvement (when stopping is on).
    Returns the closing message when the run should stop, else ""."""
    if val_loss < state.best_loss - min_delta:
        state.best_loss, state.best_step, state.bad_evals = val_loss, step, 0
        if patience:
            keep_best()
        return ""
    state.bad_evals += 1
    if patience and state.bad_evals >= patience:
        return message("status.stopped_early", step=step, evals=state.bad_evals, best=state.best_step)
    return ""
