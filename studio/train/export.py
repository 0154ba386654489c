"""A trained run out of the studio: the adapter as a zip, or merged into its base as a plain
safetensors model folder that `AutoModelForCausalLM.from_pretrained` loads, with an Ollama
`Modelfile` beside it.

GGUF is not written: the only converter (llama.cpp's convert_hf_to_gguf.py) is not on PyPI; the
`gguf` package there reads and writes the format but converts nothing. Ollama imports the merged
safetensors folder directly, and llama.cpp's script converts it for other GGUF tools.

Each export is built in a temporary name and renamed into place, so a failure leaves no half
export and never touches the run.
"""
from __future__ import annotations

import json
import shutil
import tempfile
import zipfile
from pathlib import Path

from studio import runs
from studio.config import GenConfig
from studio.paths import exports_dir
from studio.write.drafter import adapter_folder, parse_source

CHATML_TEMPLATE = ('{{- if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}'
                   '{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}'
                   '<|im_start|>assistant\n')


def _describe(root: Path, run_id: str) -> dict:
    folder = runs.run_dir(root, run_id)
    return {"run_id": run_id, "config": runs.read_config(folder).__dict__, "eval": runs.read_eval(folder),
            "status": {k: v for k, v in runs.read_status(folder).items() if k in ("state", "step", "best_val_loss")}}


def adapter_zip(root: Path, run: str) -> Path:
    """`exports/<run>[@step-N]-adapter.zip` for `run` ("RUN_ID" or "RUN_ID@step-N"): the LoRA adapter
    (safetensors and its config) and the run's description, for PEFT's `PeftModel.from_pretrained`
    after unzipping."""
    source = parse_source(run)
    folder = adapter_folder(root, source)  # refuses pickles and unfinished checkpoints
    out = exports_dir(root) / f"{source.key}-adapter.zip"
    with tempfile.NamedTemporaryFile(dir=out.parent, suffix=".part", delete=False) as tmp:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
            for name in ("adapter_model.safetensors", "adapter_config.json"):
                z.write(folder / name, name)
            z.writestr("studio-run.json", json.dumps(_describe(root, source.run_id), indent=2, ensure_ascii=False,
                                                     default=str))
    Path(tmp.name).replace(out)
    return out


def modelfile(name: str, chat_template: str, gen: GenConfig) -> str:
    """An Ollama Modelfile for the merged folder next to it (`ollama create NAME -f Modelfile`)."""
    lines = [f"# Ollama: ollama create {name} -f Modelfile   (run in this folder)", "FROM .", ""]
    if "<|im_start|>" in (chat_template or ""):
        lines += [f'TEMPLATE """{CHATML_TEMPLATE}"""', 'PARAMETER stop "<|im_end|>"', ""]
    lines += [f"PARAMETER temperature {gen.temperature}", f"PARAMETER top_p {gen.top_p}",
              f"PARAMETER repeat_penalty {gen.repetition_penalty}"]
    return "\n".join(lines) + "\n"


def merged_model(root: Path, run: str) -> Path:
    """`exports/<run>[@step-N]-merged/` for `run` ("RUN_ID" or "RUN_ID@step-N"): the base with the adapter folded into its weights (bf16
    safetensors), the tokenizer, and a Modelfile. The base is loaded unquantized for the merge:
    folding a LoRA into 4-bit weights would round it away."""
    import torch
    from peft import PeftModel

    from studio.models import load_base, load_tokenizer, resolve

    source = parse_source(run)
    folder = adapter_folder(root, source)
    cfg = runs.read_config(runs.run_dir(root, source.run_id))
    base_source = resolve(cfg.model, root)
    out = exports_dir(root) / f"{source.key}-merged"
    work = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{source.key}-"))
    try:
        model = load_base(base_source, "none", "cpu", "fp32")
        model = PeftModel.from_pretrained(model, str(folder)).merge_and_unload()
        model.config.use_cache = True  # load_base turns it off for training; drafting wants it
        model.to(torch.bfloat16).save_pretrained(work, safe_serialization=True)
        tokenizer = load_tokenizer(base_source)
        if cfg.chat_template:
            tokenizer.chat_template = cfg.chat_template
        tokenizer.save_pretrained(work)
        (work / "Modelfile").write_text(modelfile(source.key, tokenizer.chat_template or "", GenConfig()),
                                        encoding="utf-8")
        (work / "studio-run.json").write_text(json.dumps(_describe(root, source.run_id), indent=2, ensure_ascii=False,
                                                         default=str), encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        work.replace(out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out
