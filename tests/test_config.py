import dataclasses
import pytest
import yaml

from studio import runs
from studio.config import ConfigError, CorpusConfig, GenConfig, TrainConfig, apply_overrides, from_dict, to_dict
from studio.presets import PRESETS_DIR, list_presets, load_preset, read_preset


def test_train_config_round_trips_through_the_run_folder(tmp_path):
    cfg = TrainConfig(corpus="lamp", learning_rate=3e-4, lora_r=8, quantization="none", epochs=2.5)
    runs.write_config(tmp_path, cfg)
    assert runs.read_config(tmp_path) == cfg
    assert from_dict(TrainConfig, to_dict(cfg)) == cfg


def test_overrides_are_typed_like_the_field():
    cfg = apply_overrides(TrainConfig(), ["lora_r=8", "learning_rate=5e-4", "epochs=2", "lr_scheduler=linear"])
    assert (cfg.lora_r, cfg.learning_rate, cfg.epochs, cfg.lr_scheduler) == (8, 5e-4, 2.0, "linear")
    assert isinstance(cfg.lora_r, int) and isinstance(cfg.epochs, float)


@pytest.mark.parametrize("pairs, field", [
    (["lora_r=eight"], "lora_r"),
    (["lora_r=0"], "lora_r"),
    (["learning_rate=2"], "learning_rate"),
    (["lr_scheduler=sawtooth"], "lr_scheduler"),
    (["quantization=int3"], "quantization"),
    (["no_such_key=1"], "no_such_key"),
    (["lora_r"], "lora_r"),
])
def test_bad_settings_name_the_field(pairs, field):
    with pytest.raises(ConfigError) as err:
        apply_overrides(TrainConfig(), pairs)
    assert err.value.field == field
    assert field in str(err.value)


def test_other_configs_check_their_values():
    with pytest.raises(ConfigError, match="val_share"):
        CorpusConfig(name="x", val_share=0.95)
    with pytest.raises(ConfigError, match="max_new_tokens"):
        GenConfig(max_new_tokens=0)


def test_every_preset_loads_and_comments_every_key():
    assert "quick-cpu-demo" in list_presets()
    for name in list_presets():
        cfg = load_preset(name, corpus="lamp")
        assert isinstance(cfg, TrainConfig)
        text = (PRESETS_DIR / f"{name}.yaml").read_text(encoding="utf-8")
        assert text.startswith("#"), f"{name}: needs a header comment saying when to use it"
        missing = {f.name for f in dataclasses.fields(TrainConfig)} - {"corpus", "corpus_version"} - set(read_preset(name).values)
        assert not missing, f"{name}: says nothing about {missing}"
        for line in text.splitlines():
            if line and not line.startswith("#"):
                assert "#" in line, f"{name}: key without a comment: {line}"


def test_unknown_preset_key_is_an_error_naming_the_preset(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"lora_rank": 8}))
    with pytest.raises(ConfigError, match="lora_rank.*preset bad"):
        load_preset(str(bad))
