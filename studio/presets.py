"""Training presets: commented YAML files in presets/ that become TrainConfig values."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from studio.config import ConfigError, TrainConfig, from_dict
from studio.paths import PROJECT_ROOT

PRESETS_DIR = PROJECT_ROOT / "presets"
NOT_PRESETS = {"models"}  # presets/models.yaml is the model registry, not a training preset


@dataclass
class Preset:
    name: str
    description: str  # the header comment: when to use it
    values: dict
    description_zh: str = ""  # its "# zh:" lines, for readers of Chinese


def preset_path(name_or_path: str) -> Path:
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") and p.exists():
        return p
    candidate = PRESETS_DIR / f"{name_or_path}.yaml"
    if not candidate.exists():
        raise ConfigError("preset", "config.no_preset", name=name_or_path, choices=", ".join(list_presets()))
    return candidate


def list_presets() -> list[str]:
    return sorted(p.stem for p in PRESETS_DIR.glob("*.yaml") if p.stem not in NOT_PRESETS)


def read_preset(name_or_path: str) -> Preset:
    path = preset_path(name_or_path)
    text = path.read_text(encoding="utf-8")
    try:
        values = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise ConfigError("preset", "config.bad_yaml", path=path, error=e) from None
    if not isinstance(values, dict):
        raise ConfigError("preset", "config.not_mapping", path=path)
    header, header_zh = [], []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        words = line.lstrip("# ").rstrip()
        if words.startswith("zh:"):
            header_zh.append(words[3:].strip())
        else:
            header.append(words)
    return Preset(path.stem, " ".join(h for h in header if h), values, "".join(header_zh))


def load_preset(name_or_path: str, **extra) -> TrainConfig:
    """The preset as a TrainConfig; `extra` (e.g. corpus=...) fills or overrides keys."""
    preset = read_preset(name_or_path)
    return from_dict(TrainConfig, {**preset.values, **extra}, source=f"preset {preset.name}")
