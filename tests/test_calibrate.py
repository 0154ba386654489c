"""The drafting path chosen on the machine it runs on (studio/write/calibrate.py): fake timing tables for
the choice and its quality rule, the kept result redone when the machine or the version changes,
a failed calibration falling back to fp32, forced paths, and one real calibration on the tiny
model through the CLI."""
import json

import pytest

from studio.messages import render
from studio.write import calibrate


@pytest.fixture(autouse=True)
def measured(monkeypatch):
    """These tests choose by measuring (conftest forces the bf16 path for every other test), in this
    process, where their fake measurements are."""
    monkeypatch.delenv(calibrate.FORCE_ENV, raising=False)
    monkeypatch.setattr(calibrate, "APART", False)


def fake_measure(speeds: dict, drift: dict | None = None, calls: list | None = None):
    """A measure_path: `speeds` tokens/s by path; `drift` a path's log-probability shift (nats) and
    whether its first choices leave fp32's tokens."""
    drift = drift or {}

    def measure(source, path, reference, facts):
        if calls is not None:
            calls.append(path)
        shift, agreement = drift.get(path, (0.0, 1.0))
        tokens = reference or [5, 6, 7, 8]
        return {"path": path, "weights": path, "tokens": tokens, "logprobs": [-1.0 - shift] * len(tokens),
                "agreement": agreement, "tok_s": speeds[path], "demo_row_ms": 1000 / speeds[path] / 4,
                "load_s": 0.1, "seconds": 0.2}
    return measure


@pytest.fixture
def tiny_root(tmp_path, tiny_model_dir):
    return tmp_path / "data", str(tiny_model_dir)


def test_the_fastest_path_whose_drafts_hold_is_chosen(tiny_root):
    root, model = tiny_root
    data = calibrate.calibrate(root, model, measure_path=fake_measure({"fp32": 10, "bf16": 17, "nf4": 21}))
    assert data["chosen"] == "nf4" and [r["path"] for r in data["rows"]] == ["fp32", "bf16", "nf4"]
    data = calibrate.calibrate(root, model, measure_path=fake_measure({"fp32": 10, "bf16": 17, "nf4": 12}))
    assert data["chosen"] == "bf16"
    assert calibrate.remembered(root, model)["chosen"] == "bf16"  # kept with the model cache
    assert calibrate.calibration_file(root, model).parent == root / "models" / "calibration"


def test_a_fast_path_that_drifts_from_fp32_is_refused(tiny_root):
    root, model = tiny_root
    speeds = {"fp32": 10, "bf16": 17, "nf4": 30}
    drifting = calibrate.calibrate(root, model, measure_path=fake_measure(speeds, {"nf4": (0.4, 1.0)}))
    assert drifting["chosen"] == "bf16" and not drifting["rows"][2]["holds"]
    assert drifting["rows"][2]["logprob_gap"] == pytest.approx(0.4)
    other_tokens = calibrate.calibrate(root, model, measure_path=fake_measure(speeds, {"nf4": (0.0, 0.5),
                                                                                      "bf16": (0.0, 0.8)}))
    assert other_tokens["chosen"] == "fp32"  # neither picks fp32's tokens often enough
    assert "refused: drifts from fp32" in calibrate.table(other_tokens)


def test_the_calibration_is_redone_for_another_machine_or_version(tiny_root, monkeypatch):
    root, model = tiny_root
    calls = []
    monkeypatch.setattr(calibrate, "measure", fake_measure({"fp32": 10, "bf16": 17, "nf4": 12}, calls=calls))
    assert calibrate.drafting_path(root, model)[:2] == ("bf16", "calibrated") and len(calls) == 3
    assert calibrate.drafting_path(root, model)[0] == "bf16" and len(calls) == 3  # remembered
    other = {**calibrate.hardware(), "flags": ["avx2"], "cpu": "another CPU"}
    monkeypatch.setattr(calibrate, "hardware", lambda: other)
    calibrate.drafting_path(root, model)
    assert len(calls) == 6  # another machine: measured again
    path = calibrate.calibration_file(root, model)
    path.write_text(json.dumps({**json.loads(path.read_text()), "version": 0}))  # another studio version's file
    calibrate.drafting_path(root, model)
    assert len(calls) == 9
    path.write_text("{not json")
    calibrate.drafting_path(root, model)
    assert len(calls) == 12 and calibrate.remembered(root, model)["chosen"] == "bf16"


def test_a_failed_calibration_drafts_in_fp32_and_says_why(tiny_root, monkeypatch):
    root, model = tiny_root

    def broken(*args):
        raise RuntimeError("oneDNN could not make a kernel")
    monkeypatch.setattr(calibrate, "measure", broken)
    path, why, detail = calibrate.drafting_path(root, model)
    assert (path, why) == ("fp32", "calibration failed") and "oneDNN" in detail
    assert calibrate.remembered(root, model) is None  # nothing kept: the next process tries again
    monkeypatch.setattr(calibrate, "measure", fake_measure({"fp32": 10, "bf16": 17, "nf4": 12}))
    assert calibrate.drafting_path(root, model)[:2] == ("fp32", "calibration failed")  # not at every draft
    calibrate._failed.clear()
    assert calibrate.drafting_path(root, model)[:2] == ("bf16", "calibrated")


def test_a_forced_path_is_used_or_refused_with_what_the_machine_can_run(tiny_root, monkeypatch):
    root, model = tiny_root
    monkeypatch.setenv(calibrate.FORCE_ENV, "FP32")
    assert calibrate.drafting_path(root, model)[:2] == ("fp32", "forced")
    monkeypatch.setenv(calibrate.FORCE_ENV, "fast")
    with pytest.raises(calibrate.CalibrationRefused) as refused:
        calibrate.drafting_path(root, model)
    assert "nf4, bf16, fp32" in str(refused.value) and "STUDIO_DRAFT_PATH" in render("zh", refused.value)
    monkeypatch.setenv(calibrate.FORCE_ENV, "nf4")
    monkeypatch.setattr(calibrate, "bitsandbytes_runs", lambda: False)
    with pytest.raises(calibrate.CalibrationRefused, match="bitsandbytes is not installed"):
        calibrate.drafting_path(root, model)


def test_calibrate_on_the_tiny_model_from_the_cli(tiny_root, capsys):
    """A real calibration (three loads of the tiny model, a few steps each) through the CLI: the
    table, the file, and fp32 holding against itself."""
    from studio.__main__ import main

    root, model = tiny_root
    assert main(["calibrate", "--model", model, "--data-dir", str(root)]) == 0
    out = capsys.readouterr().out
    assert "tok/s (1 row)" in out and "chosen" in out
    assert f"training {model}" in out and "loss after" in out  # the training paths too (studio/train/calibrate.py)
    data = calibrate.remembered(root, model)
    fp32 = data["rows"][0]
    assert fp32["path"] == "fp32" and fp32["holds"] and fp32["agreement"] == 1.0 and fp32["tok_s"] > 0
    assert data["chosen"] in calibrate.DRAFT_PATHS and data["seconds"] < calibrate.BUDGET_S


def test_the_first_draft_calibrates_in_a_process_of_its_own(tiny_root, monkeypatch):
    """In the app the calibration runs apart (its compute threads would slow every later draft of the
    process, studio/write/calibrate.py calibrate_apart): the result is read back from the file; a
    calibration that fails there is drafted in fp32 with its error."""
    root, model = tiny_root
    monkeypatch.setattr(calibrate, "APART", True)
    path, why, when = calibrate.drafting_path(root, model)
    assert why == "calibrated" and calibrate.remembered(root, model)["when"] == when
    missing = str(root / "no-such-model")
    path, why, detail = calibrate.drafting_path(root, missing)
    assert (path, why) == ("fp32", "calibration failed") and "python -m studio calibrate exited" in detail
