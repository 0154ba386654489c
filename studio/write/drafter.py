"""The drafter owns the loaded base model and the adapters attached to it.

The base is loaded once per (model, quantization, device); each run's adapter is attached by name
the first time it is asked for. A comparison is one `generate` call on a batch whose rows use
different adapters (PEFT mixed-adapter batches, "__base__" for the plain base), so base and tuned
drafts share the prompt, the sampling settings, the seed and one pass over the weights.
"""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from studio import runs
from studio.config import GenConfig

BASE = "__base__"


class AdapterRefused(ValueError):
    pass


def adapter_folder(root: Path, run_id: str) -> Path:
    folder = runs.run_dir(root, run_id) / "adapter"
    if (folder / "adapter_model.bin").exists() and not (folder / "adapter_model.safetensors").exists():
        raise AdapterRefused(f"run {run_id}: adapter_model.bin is a pickle and is refused; only safetensors adapters load")
    if not (folder / "adapter_model.safetensors").exists():
        state = runs.read_status(runs.run_dir(root, run_id)).get("state")
        raise AdapterRefused(f"run {run_id} has no adapter yet (state: {state}); draft from a completed run")
    return folder


class Drafter:
    def __init__(self, root: Path):
        self.root = root
        self.model = None  # the base, later wrapped as a PeftModel once an adapter is attached
        self.tokenizer = None
        self.device = "cpu"
        self._key = None
        self._adapters: set[str] = set()
        self._lock = threading.Lock()  # one generate at a time; other callers queue here

    def _ensure_base(self, model_name: str, quantization: str, device: str) -> None:
        from studio.models import load_base, load_tokenizer, pick_device, resolve

        key = (model_name, quantization, device)
        if self._key == key:
            return
        source = resolve(model_name, self.root)
        self.device = pick_device(device)
        self.tokenizer = load_tokenizer(source)
        self.model = load_base(source, quantization, self.device)
        self.model.eval()
        self._key, self._adapters = key, set()

    def _ensure_adapter(self, run_id: str) -> None:
        from peft import PeftModel

        if run_id in self._adapters:
            return
        folder = adapter_folder(self.root, run_id)
        if not self._adapters:
            self.model = PeftModel.from_pretrained(self.model, str(folder), adapter_name=run_id, is_trainable=False)
        else:
            self.model.load_adapter(str(folder), adapter_name=run_id, is_trainable=False)
        self.model.eval()
        self._adapters.add(run_id)

    def compare(self, run_id: str, prompt: str, gen: GenConfig) -> dict:
        """Base and tuned drafts of `prompt` from one batched generate call."""
        import torch

        if not prompt.strip():
            raise ValueError("the prompt is empty: write the opening you want continued")
        cfg = runs.read_config(runs.run_dir(self.root, run_id))
        with self._lock:
            self._ensure_base(cfg.model, cfg.quantization, cfg.device)
            self._ensure_adapter(run_id)
            tok = self.tokenizer
            enc = tok([prompt, prompt], return_tensors="pt").to(self.device)
            torch.manual_seed(gen.seed)
            sampling = gen.temperature > 0
            started = time.time()
            out = self.model.generate(
                **enc,
                adapter_names=[BASE, run_id],
                max_new_tokens=gen.max_new_tokens,
                do_sample=sampling,
                temperature=gen.temperature if sampling else None,
                top_p=gen.top_p if sampling else None,
                top_k=gen.top_k if sampling else None,
                repetition_penalty=gen.repetition_penalty,
                pad_token_id=tok.pad_token_id,
                use_cache=True,
            )
            seconds = time.time() - started
        base, tuned = tok.batch_decode(out[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
        result = {"run_id": run_id, "prompt": prompt, "base": base, "tuned": tuned,
                  "settings": gen.__dict__, "seconds": round(seconds, 2), "time": time.time()}
        with open(runs.run_dir(self.root, run_id) / "drafts.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps(result, ensure_ascii=False) + "\n")
        return result
