"""The LoRA training path chosen on the machine it runs on (studio/train/calibrate.py): fake timing
tables for the choice and its loss rule, the kept result redone for another machine or version, a
failed calibration training on fp32 and saying so, forced settings used or refused, the estimate
reading the choice, and a tiny run that measures the machine first and keeps its path."""
import json

import pytest

from studio import calibration, service
from studio.messages import render
from studio.train import calibrate
from tests.conftest import tiny_overrides  # imported here: importing conftest sets STUDIO_TRAIN_PATH again

BF16_CPU = {"cpu": "a CPU with bf16", "machine": "x86_64", "flags": ["avx2", "avx512_bf16", "avx512f"],
            "capability": "AVX512", "threads": 2, "versions": {"torch": "x"}}


@pytest.fixture(autouse=True)
def measured(monkeypatch):
    """These tests choose by measuring (conftest forces the fp32 path for every other test), on a
    CPU with bf16 instructions unless a test says otherwise, with bitsandbytes."""
    monkeypatch.delenv(calibrate.FORCE_ENV, raising=False)
    monkeypatch.setattr(calibrate, "hardware", lambda: BF16_CPU)
    monkeypatch.setattr(calibrate, "bitsandbytes_runs", lambda: True)


def fake_measure(speeds: dict, losses: dict | None = None, calls: list | None = None):
    """A measure_path: `speeds` tokens/s by path, `losses` the held-out loss after the steps (2.85)."""
    losses = losses or {}

    def measure(source, path, facts):
        if calls is not None:
            calls.append(path)
        quant, dtype = calibrate.weights_of(path, facts)
        return {"path": path, "weights": f"{quant} {dtype}", "tok_s": speeds[path], "step_s": 256 / speeds[path],
                "first_loss": 3.5, "loss": losses.get(path, 2.85), "load_s": 0.1, "seconds": 0.2}
    return measure


@pytest.fixture
def tiny_root(tmp_path, tiny_model_dir):
    return tmp_path / "data", str(tiny_model_dir)


def test_the_fastest_path_whose_loss_holds_is_chosen(tiny_root):
    root, model = tiny_root
    data = calibrate.calibrate(root, model, 135, measure_path=fake_measure({"fp32": 120, "bf16": 210, "nf4": 180}))
    assert data["chosen"] == "bf16" and [r["path"] for r in data["rows"]] == ["fp32", "bf16", "nf4"]
    # 4-bit is fastest but its loss is 5% above fp32's after the same tokens: refused
    data = calibrate.calibrate(root, model, 135, measure_path=fake_measure(
        {"fp32": 120, "bf16": 150, "nf4": 240}, {"nf4": 2.85 * 1.05}))
    assert data["chosen"] == "bf16" and not data["rows"][2]["holds"] and data["rows"][2]["loss_gap"] == 0.05
    assert "refused: loss over 2% above fp32's" in calibrate.table(data)
    assert calibrate.remembered(root, model)["chosen"] == "bf16"  # kept with the model cache
    assert calibration.calibration_file(root, model, "train").parent == root / "models" / "calibration"
    # within the tolerance, the faster one wins
    data = calibrate.calibrate(root, model, 135, measure_path=fake_measure(
        {"fp32": 120, "bf16": 150, "nf4": 240}, {"nf4": 2.85 * 1.01}))
    assert data["chosen"] == "nf4"


def test_a_cpu_without_bf16_or_bitsandbytes_skips_those_paths_and_says_why(tiny_root, monkeypatch):
    root, model = tiny_root
    monkeypatch.setattr(calibrate, "hardware", lambda: {**BF16_CPU, "flags": ["avx2"]})
    monkeypatch.setattr(calibrate, "bitsandbytes_runs", lambda: False)
    calls = []
    data = calibrate.calibrate(root, model, 135, measure_path=fake_measure({"fp32": 120}, calls=calls))
    assert calls == ["fp32"] and data["chosen"] == "fp32"
    table = calibrate.table(data)
    assert "bf16   skipped: no bf16 instructions" in table and "nf4    skipped: bitsandbytes is not installed" in table


def test_the_calibration_is_redone_for_another_machine_or_version(tiny_root, monkeypatch):
    root, model = tiny_root
    calls = []
    monkeypatch.setattr(calibrate, "measure", fake_measure({"fp32": 120, "bf16": 210, "nf4": 180}, calls=calls))
    path = calibrate.training_path(root, model, "cpu", params_m=135, measure_now=True)
    assert (path.quantization, path.compute_dtype, path.path) == ("none", "bf16", "bf16") and len(calls) == 3
    assert calibrate.training_path(root, model, "cpu", params_m=135, measure_now=True).path == "bf16"
    assert len(calls) == 3  # remembered
    monkeypatch.setattr(calibrate, "hardware", lambda: {**BF16_CPU, "cpu": "another CPU"})
    calibrate.training_path(root, model, "cpu", params_m=135, measure_now=True)
    assert len(calls) == 6  # another machine: measured again
    file = calibration.calibration_file(root, model, "train")
    file.write_text(json.dumps({**json.loads(file.read_text()), "version": calibrate.VERSION + 1}))
    calibrate.training_path(root, model, "cpu", params_m=135, measure_now=True)
    assert len(calls) == 9  # written by another version: measured again
    file.write_text("{not json")
    assert calibrate.training_path(root, model, "cpu", params_m=135, measure_now=True).path == "bf16"
    assert len(calls) == 12


def test_a_failed_calibration_trains_in_fp32_and_says_why(tiny_root, monkeypatch):
    root, model = tiny_root

    def broken(*args):
        raise RuntimeError("oneDNN could not make a kernel")
    monkeypatch.setattr(calibrate, "measure", broken)
    path = calibrate.training_path(root, model, "cpu", params_m=135, measure_now=True)
    assert (path.quantization, path.compute_dtype) == ("none", "fp32")
    assert "oneDNN" in render("en", path.note) and "fp32" in render("zh", path.note)
    assert calibrate.remembered(root, model) is None  # nothing kept: the next run measures again


def test_settings_force_the_path_or_are_refused_with_what_the_machine_can_run(tiny_root, monkeypatch):
    root, model = tiny_root
    calibrate.calibrate(root, model, 135, measure_path=fake_measure({"fp32": 120, "bf16": 210, "nf4": 180}))
    # the writer fixed the weights: the fastest measured path with them
    path = calibrate.training_path(root, model, "cpu", quantization="nf4", params_m=135)
    assert (path.quantization, path.compute_dtype) == ("nf4", "bf16")
    path = calibrate.training_path(root, model, "cpu", compute_dtype="fp32", params_m=135)
    assert (path.quantization, path.compute_dtype) == ("none", "fp32")
    assert calibrate.training_path(root, model, "cpu", "none", "bf16").note == ""  # both fixed: nothing to say
    monkeypatch.setenv(calibrate.FORCE_ENV, "fp32")
    path = calibrate.training_path(root, model, "cpu", params_m=135)
    assert (path.quantization, path.compute_dtype) == ("none", "fp32") and "STUDIO_TRAIN_PATH" in render("en", path.note)
    monkeypatch.setenv(calibrate.FORCE_ENV, "fast")
    with pytest.raises(calibrate.PathRefused) as refused:
        calibrate.training_path(root, model, "cpu", params_m=135)
    assert "fp32, bf16, nf4" in str(refused.value) and "STUDIO_TRAIN_PATH" in render("zh", refused.value)
    monkeypatch.delenv(calibrate.FORCE_ENV)
    monkeypatch.setattr(calibrate, "bitsandbytes_runs", lambda: False)
    with pytest.raises(calibrate.PathRefused, match=r"quantization=nf4 cannot run here \(bitsandbytes is not installed\): set quantization=none"):
        calibrate.training_path(root, model, "cpu", quantization="nf4")


def test_the_estimate_says_which_path_and_why(root, sample_corpus, tiny_model_dir, monkeypatch):
    """Before any measurement the estimate shows the safe path and that the first run measures
    (its start-up longer by that); after, the calibrated path, its rate and why."""
    from studio.ui.views import estimate_markdown

    cfg = service.training_config(sample_corpus, "quick-cpu-demo", tiny_overrides(tiny_model_dir))
    first = service.training_estimate_config(root, cfg)
    assert (first["quantization"], first["compute_dtype"]) == ("none", "fp32")
    assert "first run measures" in render("en", first["quantization_note"])
    assert first["plan"]["startup_s"] > 20  # the measuring is part of the first run's start-up
    calibrate.calibrate(root, str(tiny_model_dir), 1, measure_path=fake_measure({"fp32": 120, "bf16": 210, "nf4": 180}))
    after = service.training_estimate_config(root, cfg)
    assert (after["quantization"], after["compute_dtype"], after["speed"]) == ("none", "bf16", 210)
    assert after["plan"]["startup_s"] == 20
    text = estimate_markdown(after, "en")
    assert "bf16" in text and "fastest path measured on this machine" in text and "calibration" in text
    assert "本机实测最快" in estimate_markdown(after, "zh")


def test_a_first_run_measures_the_machine_trains_on_the_choice_and_keeps_it(root, sample_corpus, tiny_model_dir,
                                                                             monkeypatch):
    """A real tiny run with `auto` settings on a machine not measured yet: the worker measures the
    paths first (the tiny model: seconds), trains on the choice, says why in its status, and keeps
    the path in the run folder; the next run reads the kept calibration instead of measuring."""
    from studio import runs

    monkeypatch.undo()  # the worker measures the real machine (its own process: no fake hardware)
    monkeypatch.delenv(calibrate.FORCE_ENV, raising=False)
    run_id = service.start_training(root, sample_corpus, "quick-cpu-demo", tiny_overrides(tiny_model_dir, max_steps=2))
    status = service.wait_for_run(root, run_id)
    assert status.state == "completed", status.reason
    folder = runs.run_dir(root, run_id)
    kept = json.loads((folder / runs.RunFolder.TRAIN_PATH).read_text())
    data = calibrate.remembered(root, str(tiny_model_dir))
    assert kept["path"] == data["chosen"] and kept["note"]["key"] == "train_path.calibrated"
    assert status.quantization == kept["quantization"] and status.quantization_note == kept["note"]
    assert status.compute_dtype == {"fp32": "float32", "bf16": "bfloat16"}[kept["compute_dtype"]]
    assert data["rows"][0]["path"] == "fp32" and data["rows"][0]["holds"] and data["rows"][0]["tok_s"] > 0
    when = data["when"]
    second = service.start_training(root, sample_corpus, "quick-cpu-demo", tiny_overrides(tiny_model_dir, max_steps=1))
    assert service.wait_for_run(root, second).state == "completed"
    assert calibrate.remembered(root, str(tiny_model_dir))["when"] == when  # read, not measured again
