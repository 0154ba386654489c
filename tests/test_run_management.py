"""The Runs and Models views' service calls: delete, publish, compare; adapter zip and merged
model exports (the merged folder loads with plain transformers and drafts what the adapter did)."""
import json
import zipfile

import pytest

from studio import jobs, runs, service
from studio.config import GenConfig
from studio.train import export
from studio.write.drafter import Drafter
from conftest import finished_copy
from test_drafter import root, trained, trained_run  # noqa: F401 - fixtures


def test_delete_removes_that_run_only_and_refuses_a_running_one(root, trained_run):
    other = finished_copy(root, trained_run)
    before = sorted(p.name for p in (root / "runs").iterdir())
    busy = finished_copy(root, trained_run, state="running", pid=None)
    with pytest.raises(ValueError, match="cancel it first"):
        service.delete_run(root, busy)
    service.delete_run(root, other)
    after = sorted(p.name for p in (root / "runs").iterdir())
    assert set(before) - set(after) == {other} and (runs.run_dir(root, trained_run) / "adapter").is_dir()
    with pytest.raises(ValueError, match="does not exist"):
        service.delete_run(root, other)
    with pytest.raises(ValueError, match="not allowed"):
        service.delete_run(root, "../corpora")
    runs.write_json_atomic(runs.run_dir(root, busy) / "status.json", {"state": "cancelled"})
    service.delete_run(root, busy)


def published(root) -> set[str]:
    return {row["run_id"] for row in runs.list_runs(root) if row["published"]}


def test_publish_marks_only_runs_with_an_adapter(root, trained_run):
    service.publish_run(root, trained_run)
    assert trained_run in published(root)
    bare = finished_copy(root, trained_run)
    with pytest.raises(ValueError, match="no finished adapter"):
        service.publish_run(root, bare)
    service.publish_run(root, trained_run, False)
    assert published(root) == set()
    service.delete_run(root, bare)


def test_compare_lists_the_settings_that_differ_and_both_curves(root, trained_run):
    other = finished_copy(root, trained_run)
    result = service.compare_runs(root, trained_run, other)
    changed = {d["setting"] for d in result["differences"]}
    assert changed == {"learning_rate", "lora_r"}
    assert result["views"][0].events and result["views"][1].events == []
    service.delete_run(root, other)


def test_adapter_zip_holds_safetensors_config_and_the_run_description(root, trained_run):
    path = export.adapter_zip(root, trained_run)
    with zipfile.ZipFile(path) as z:
        assert sorted(z.namelist()) == ["adapter_config.json", "adapter_model.safetensors", "studio-run.json"]
        assert json.loads(z.read("studio-run.json"))["run_id"] == trained_run
    assert not list(path.parent.glob("*.part"))


def test_an_exported_adapter_says_its_own_validation_loss(root, trained_run):
    """studio-run.json gives the validation loss the run measured for the adapter in the zip: the
    final adapter's from the evaluation; a checkpoint's from the eval event at its step (the run
    validates every 2 steps)."""
    tuned = runs.read_eval(runs.run_dir(root, trained_run))["tuned"]["loss"]
    with zipfile.ZipFile(export.adapter_zip(root, trained_run)) as z:
        described = json.loads(z.read("studio-run.json"))
    assert described["status"].get("val_loss") == tuned, described["status"]
    with zipfile.ZipFile(export.adapter_zip(root, f"{trained_run}@step-2")) as z:
        described = json.loads(z.read("studio-run.json"))
    assert described["adapter"] == f"{trained_run}@step-2" and described["status"]["step"] == 2
    at_step_2 = [e["val_loss"] for e in runs.read_events(runs.run_dir(root, trained_run))
                 if e["kind"] == "eval" and e["step"] == 2]
    assert at_step_2 and described["status"]["val_loss"] == at_step_2[0] != tuned


def test_a_merged_export_loads_with_plain_transformers_and_drafts_as_the_adapter_did(root, trained_run):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = export.merged_model(root, trained_run)
    assert (folder / "model.safetensors").exists() and (folder / "Modelfile").read_text().startswith("# Ollama")
    assert not list(folder.glob("*.bin")) and not list(folder.parent.glob(f".{trained_run}-*"))
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    tok = AutoTokenizer.from_pretrained(folder)
    ids = tok("Wind: north", return_tensors="pt")
    merged = tok.decode(model.generate(**ids, max_new_tokens=8, do_sample=False)[0][ids["input_ids"].shape[1]:])
    with_adapter = Drafter(root).draft([trained_run], "Wind: north", GenConfig(max_new_tokens=8, temperature=0))
    assert merged.strip() == with_adapter["panes"][0]["drafts"][0].strip()


def test_the_models_view_reports_cache_size_and_memory(root):
    rows = {r["name"]: r for r in service.models_overview(root)}
    qwen = rows["qwen2.5-7b-instruct"]
    assert qwen["cached"] is False and qwen["disk_gb"] == 0
    assert qwen["gb_16bit"] == pytest.approx(15.23, abs=0.01) and qwen["gb_4bit"] < qwen["gb_16bit"] / 3
