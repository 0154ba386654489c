"""Hyperparameter search: short trials over learning rate, LoRA rank and epochs, judged on the
tuned model's validation loss, with optuna choosing the next trial (TPE or random) or walking a
grid. Each trial is an ordinary run (its own folder, worker, curves and adapter), started and
awaited one after another, because there is one training slot per machine.

Sweeps live in <data>/sweeps/<id>/: sweep.json (what was asked) and trials.jsonl (one line per
finished trial: number, parameters, run id, state, validation loss).

This module starts no run itself: whoever drives a sweep (the service) hands `run` the function
that starts a training run, and `start_detached` the command line of the driving process, so the
sweep sits below the service and never imports it.
"""
from __future__ import annotations

import secrets
import time
from pathlib import Path

from studio import jobs, runs
from studio.jsonio import append_jsonl, read_json, read_jsonl, write_json_atomic
from studio.messages import Keyed
from studio.paths import check_name

SAMPLERS = ("tpe", "random", "grid")
# The space the guides tune first. Grid values are the points a grid walks; TPE and random
# sample the learning rate on a log scale between the ends.
SPACE = {"learning_rate": [2e-4, 5e-4, 1e-3, 2e-3], "lora_r": [8, 16, 32], "epochs": [1, 2, 3]}


class SweepRefused(Keyed, ValueError):
    """A sweep asked for with settings it cannot run with."""


class SweepMissing(Keyed, FileNotFoundError):
    """A sweep id with no sweep.json behind it."""


def sweeps_dir(root: Path) -> Path:
    return root / "sweeps"


def create(root: Path, corpus: str, preset: str, trials: int, sampler: str, trial_steps: int,
           overrides: list[str] | None = None) -> str:
    if sampler not in SAMPLERS:
        raise SweepRefused("sweep.sampler", sampler=sampler, samplers=", ".join(SAMPLERS))
    if trials < 1:
        raise SweepRefused("sweep.trials")
    sweep_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{check_name(corpus, 'corpus name')[:24]}-sweep-{secrets.token_hex(2)}"
    folder = sweeps_dir(root) / sweep_id
    folder.mkdir(parents=True)
    write_json_atomic(folder / "sweep.json", {
        "sweep_id": sweep_id, "corpus": corpus, "preset": preset, "trials": trials, "sampler": sampler,
        "trial_steps": trial_steps, "overrides": overrides or [], "space": SPACE, "created": time.time()})
    return sweep_id


def read_trials(root: Path, sweep_id: str) -> list[dict]:
    rows = read_jsonl(sweeps_dir(root) / check_name(sweep_id, "sweep id") / "trials.jsonl")
    finished = [r for r in rows if r.get("val_loss") is not None]
    best = min(finished, key=lambda r: r["val_loss"]) if finished else None
    for r in rows:
        r["best"] = r is best
    return rows


def list_sweeps(root: Path) -> list[dict]:
    base = sweeps_dir(root)
    if not base.exists():
        return []
    return [read_json(p / "sweep.json") for p in sorted(base.iterdir(), reverse=True) if (p / "sweep.json").exists()]


def _sampler(name: str, seed: int):
    import optuna

    if name == "grid":
        return optuna.samplers.GridSampler(SPACE, seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=3)  # three random trials, then TPE


def _suggest(trial, sampler: str) -> dict:
    if sampler == "grid":
        return {k: trial.suggest_categorical(k, v) for k, v in SPACE.items()}
    return {"learning_rate": trial.suggest_float("learning_rate", min(SPACE["learning_rate"]), max(SPACE["learning_rate"]), log=True),
            "lora_r": trial.suggest_categorical("lora_r", SPACE["lora_r"]),
            "epochs": trial.suggest_categorical("epochs", SPACE["epochs"])}


class TrialFailed(Exception):
    pass


def run(root: Path, sweep_id: str, start_training, on_trial=None) -> list[dict]:
    """Run the sweep's trials one after another; `start_training(corpus, preset, overrides)` starts
    a run and returns its id (the service's, so a trial is a run like any other)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    folder = sweeps_dir(root) / check_name(sweep_id, "sweep id")
    spec = read_json(folder / "sweep.json")
    if spec is None:
        raise SweepMissing("sweep.missing", sweep=sweep_id, folder=str(sweeps_dir(root)))

    def objective(trial) -> float:
        params = _suggest(trial, spec["sampler"])
        # short trials: a fixed step budget, so epochs shape the schedule's length within it
        overrides = [*spec["overrides"], *(f"{k}={v}" for k, v in params.items())]
        if spec["trial_steps"]:
            overrides.append(f"max_steps={spec['trial_steps']}")
        row = {"trial": trial.number, "params": params, "run_id": None, "state": runs.FAILED.value, "val_loss": None}
        try:
            row["run_id"] = start_training(spec["corpus"], spec["preset"], overrides)
            final = jobs.wait(root, row["run_id"])
            row["state"] = final.state.value
            if final.state == runs.COMPLETED:
                row["val_loss"] = runs.read_eval(runs.run_dir(root, row["run_id"]))["tuned"]["loss"]
        except (ValueError, RuntimeError) as e:
            row["error"] = str(e)
        append_jsonl(folder / "trials.jsonl", row)
        if on_trial:
            on_trial(row)
        if row["val_loss"] is None:
            raise TrialFailed(row.get("error") or f"run {row['run_id']} {row['state']}")
        return row["val_loss"]

    study = optuna.create_study(direction="minimize", sampler=_sampler(spec["sampler"], seed=0))
    # a grid stops by itself once every point is tried
    study.optimize(objective, n_trials=spec["trials"], catch=(TrialFailed,))
    return read_trials(root, sweep_id)


def start_detached(root: Path, sweep_id: str, command: list[str]) -> int:
    """Drive the sweep from its own process (like a training worker), so closing the UI does not
    stop it; `command` is that process's command line (the service's: `python -m studio sweep-drive`)."""
    import os
    import subprocess

    from studio.paths import PROJECT_ROOT

    folder = sweeps_dir(root) / check_name(sweep_id, "sweep id")
    with open(folder / "driver.log", "ab") as log:
        proc = subprocess.Popen(command, cwd=PROJECT_ROOT, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)})
    return proc.pid
