import json

import pytest

from conftest import SAMPLE, tiny_overrides
from studio.__main__ import main


def run_cli(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_ingest_prints_the_manifest_summary_as_json(capsys, tmp_path, tiny_model_dir, monkeypatch):
    monkeypatch.setenv("STUDIO_DATA_DIR", str(tmp_path / "env-root"))
    code, out, _ = run_cli(capsys, "ingest", str(SAMPLE), "--name", "lamp", "--json",
                            "--model", str(tiny_model_dir))
    assert code == 0
    summary = json.loads(out)
    assert (summary["name"], summary["documents"], summary["split"]["method"]) == ("lamp", 40, "documents")
    assert summary["train_documents"] + summary["val_documents"] == 40 and 0.05 <= summary["split"]["val_share"] <= 0.2
    assert summary["dropped"] == {} and summary["sources"][0]["encoding"] == "utf-8"
    assert summary["tokens"]["train"] > 0 and summary["tokens"]["tokenizer"] == str(tiny_model_dir)
    assert (tmp_path / "env-root" / "corpora" / "lamp" / "v1" / "manifest.json").exists()


def test_bad_input_exits_non_zero_naming_the_file(capsys, tmp_path):
    bad = tmp_path / "picture.txt"
    bad.write_bytes(b"\x89PNG\x00\x00\x00")
    code, _, err = run_cli(capsys, "ingest", str(bad), "--name", "x", "--data-dir", str(tmp_path / "d"))
    assert code == 2 and "picture.txt" in err and "binary" in err


def test_train_draft_and_runs_from_the_shell(capsys, tmp_path, tiny_model_dir):
    d = str(tmp_path / "d")
    assert run_cli(capsys, "ingest", str(SAMPLE), "--name", "lamp", "--data-dir", d, "--model", str(tiny_model_dir))[0] == 0
    sets = [a for pair in tiny_overrides(tiny_model_dir, quantization="none") for a in ("--set", pair)]
    code, out, _ = run_cli(capsys, "train", "--corpus", "lamp", "--preset", "quick-cpu-demo", *sets, "--data-dir", d, "--json")
    assert code == 0
    result = json.loads(out)
    assert result["state"] == "completed" and result["eval"]["tuned"]["perplexity"] > 0

    code, out, _ = run_cli(capsys, "draft", "--run", result["run_id"], "--prompt", "Wind:", "--max-new-tokens", "5",
                           "--seed", "3", "--data-dir", d, "--json")
    drafts = json.loads(out)
    assert code == 0 and [p["source"] for p in drafts["panes"]] == ["base", result["run_id"]]
    assert all(isinstance(p["copied"][0], float) for p in drafts["panes"])  # checked against the corpus

    code, out, _ = run_cli(capsys, "style", result["run_id"], "--openings", "3", "--data-dir", d)
    assert code == 0 and "tuned closer in" in out and "of 3 openings" in out  # base and tuned drafted, then scored
    kept = json.loads((tmp_path / "d" / "runs" / result["run_id"] / "style.json").read_text(encoding="utf-8"))
    assert kept["openings"] == 3 and len(kept["rows"]) == 3 and kept["settings"]["seed"] == 42

    code, out, _ = run_cli(capsys, "runs", "--data-dir", d, "--json")
    rows = json.loads(out)
    assert code == 0 and rows[0]["run_id"] == result["run_id"] and rows[0]["state"] == "completed"

    code, out, _ = run_cli(capsys, "export", result["run_id"], "--data-dir", d)
    assert code == 0 and out.strip().endswith("-adapter.zip")
    assert run_cli(capsys, "publish", result["run_id"], "--data-dir", d)[0] == 0
    assert json.loads(run_cli(capsys, "runs", "--data-dir", d, "--json")[1])[0]["published"] is True
    code, _, err = run_cli(capsys, "delete", "../corpora", "--data-dir", d)
    assert code == 2 and "not allowed" in err
    assert run_cli(capsys, "delete", result["run_id"], "--data-dir", d)[0] == 0
    assert json.loads(run_cli(capsys, "runs", "--data-dir", d, "--json")[1]) == []


def test_bad_settings_exit_non_zero_naming_the_setting(capsys, tmp_path, tiny_model_dir):
    d = str(tmp_path / "d")
    run_cli(capsys, "ingest", str(SAMPLE), "--name", "lamp", "--data-dir", d, "--model", str(tiny_model_dir))
    code, _, err = run_cli(capsys, "train", "--corpus", "lamp", "--set", "lora_r=-1", "--data-dir", d)
    assert code == 2 and "lora_r" in err
    code, _, err = run_cli(capsys, "train", "--corpus", "lamp", "--preset", "nope", "--data-dir", d)
    assert code == 2 and "no preset 'nope'" in err


def test_every_train_setting_has_its_own_typed_flag_with_its_help():
    import dataclasses

    from studio.__main__ import parser
    from studio.config import TrainConfig

    train = next(a for a in parser()._subparsers._group_actions if a.dest == "command").choices["train"]
    flags = {a.dest: a for a in train._actions}
    for f in dataclasses.fields(TrainConfig):
        assert f.name in flags, f"no --{f.name.replace('_', '-')} flag"
        assert flags[f.name].help.replace("%%", "%") == f.metadata["help"]
        assert f"--{f.name.replace('_', '-')}" in flags[f.name].option_strings
    assert flags["lora_r"].type is int and flags["learning_rate"].type is float
    assert "--from" in flags["init_adapter"].option_strings  # the older spelling still works


def test_a_train_flag_reaches_the_runs_config_and_the_preset_fills_the_rest(capsys, root, sample_corpus,
                                                                            tiny_model_dir, monkeypatch):
    from studio import jobs, runs
    from studio.presets import load_preset

    monkeypatch.setattr(jobs, "start", lambda root, run_id, *nodes, **kw: None)  # the config is what is asked about
    code, out, err = run_cli(capsys, "train", "--corpus", sample_corpus, "--model", str(tiny_model_dir), "--lora-r", "4",
                             "--learning-rate", "0.003", "--no-packing", "--detach", "--data-dir", str(root), "--json")
    assert code == 0, err
    cfg = runs.read_config(runs.run_dir(root, json.loads(out)["run_id"]))
    assert (cfg.lora_r, cfg.learning_rate, cfg.packing, cfg.model) == (4, 0.003, False, str(tiny_model_dir))
    assert cfg.epochs == load_preset("quick-cpu-demo").epochs  # flags not given leave the preset's values
    with pytest.raises(SystemExit) as exit_:  # argparse names the flag and the wrong value
        main(["train", "--corpus", sample_corpus, "--lora-r", "four", "--data-dir", str(root)])
    assert exit_.value.code == 2 and "--lora-r" in capsys.readouterr().err
