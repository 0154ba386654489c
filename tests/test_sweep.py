"""Hyperparameter sweeps on the tiny model: each trial a real run, the best marked."""
import json

from conftest import tiny_overrides
from studio import runs, service
from studio.__main__ import main


def test_a_random_sweep_runs_each_trial_as_a_run_and_marks_the_best(root, sample_corpus, tiny_model_dir):
    sweep_id = service.start_sweep(root, sample_corpus, "quick-cpu-demo", trials=3, sampler="random", trial_steps=2,
                                   overrides=tiny_overrides(tiny_model_dir), detach=False)
    trials = service.sweep_trials(root, sweep_id)
    assert [t["trial"] for t in trials] == [0, 1, 2]
    assert all(t["state"] == "completed" and t["val_loss"] > 0 for t in trials)
    best = [t for t in trials if t["best"]]
    assert len(best) == 1 and best[0]["val_loss"] == min(t["val_loss"] for t in trials)
    for t in trials:  # each trial is an ordinary run with the trial's settings
        cfg = runs.read_config(runs.run_dir(root, t["run_id"]))
        assert (cfg.lora_r, cfg.max_steps) == (t["params"]["lora_r"], 2)
        assert abs(cfg.learning_rate - t["params"]["learning_rate"]) < 1e-12
    assert service.list_sweeps(root)[0]["sweep_id"] == sweep_id


def test_the_cli_runs_a_grid_sweep(root, sample_corpus, tiny_model_dir, capsys, monkeypatch):
    from studio import sweep

    monkeypatch.setattr(sweep, "SPACE", {"learning_rate": [1e-3, 5e-3], "lora_r": [8], "epochs": [1]})
    sets = sum((["--set", o] for o in tiny_overrides(tiny_model_dir)), [])
    code = main(["sweep", "--corpus", sample_corpus, "--trials", "5", "--sampler", "grid", "--trial-steps", "2",
                 "--data-dir", str(root), "--json", *sets])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert sorted(t["params"]["learning_rate"] for t in out["trials"]) == [1e-3, 5e-3]  # the grid, once each


def test_the_detached_driver_is_a_cli_command_and_names_a_missing_sweep(root, capsys):
    # a detached sweep runs `python -m studio sweep-drive ID` (the service drives it; sweep.py never imports it)
    assert main(["sweep-drive", "20990101-000000-none-sweep-0000", "--data-dir", str(root)]) == 2
    assert "no sweep 20990101-000000-none-sweep-0000" in capsys.readouterr().err
