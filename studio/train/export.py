"""A trained run out of the studio: the adapter as a zip; merged into its base as a plain
safetensors model folder that `AutoModelForCausalLM.from_pretrained` loads; or merged and written
as one GGUF file (f16, bf16 or q8_0) for llama.cpp, Ollama and LM Studio. Both merged exports carry
an Ollama `Modelfile`; the GGUF one's points at the file, which Ollama imports for every
architecture (its safetensors import covers only some).

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
from studio.formatting import template_for
from studio.adapters import adapter_folder, parse_source
from studio.adapters import ADAPTER_WEIGHTS

CHATML_TEMPLATE = ('{{- if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}'
                   '{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}'
                   '<|im_start|>assistant\n')


def _describe(root: Path, source) -> dict:
    """The run and the adapter exported: its step and the validation loss the run measured for it
    (the final adapter's from eval.json, with early stopping the best one kept; a checkpoint's from
    the eval event at its step; None where none was measured, as in a DPO run)."""
    folder = runs.run_dir(root, source.run_id)
    found, status = runs.read_eval(folder), runs.read_status(folder)
    if source.checkpoint:
        step = int(source.checkpoint.split("-")[1])
        val_loss = next((e["val_loss"] for e in runs.read_events(folder)
                         if e.get("kind") == "eval" and e.get("step") == step and "val_loss" in e), None)
    else:
        step, val_loss = status.step, found.get("tuned", {}).get("loss")
    return {"run_id": source.run_id, "adapter": source.key, "config": runs.read_config(folder).__dict__, "eval": found,
            "status": {"state": status.state.value, "step": step, "val_loss": val_loss}}


def adapter_zip(root: Path, run: str) -> Path:
    """`exports/<run>[@step-N]-adapter.zip` for `run` ("RUN_ID" or "RUN_ID@step-N"): the LoRA adapter
    (safetensors and its config) and the run's description, for PEFT's `PeftModel.from_pretrained`
    after unzipping."""
    source = parse_source(run)
    folder = adapter_folder(root, source)  # refuses pickles and unfinished checkpoints
    out = exports_dir(root) / f"{source.key}-adapter.zip"
    with tempfile.NamedTemporaryFile(dir=out.parent, suffix=".part", delete=False) as tmp:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
            for name in (ADAPTER_WEIGHTS, "adapter_config.json"):
                z.write(folder / name, name)
            z.writestr("studio-run.json", json.dumps(_describe(root, source), indent=2, ensure_ascii=False,
                                                     default=str))
    Path(tmp.name).replace(out)
    return out


def modelfile(name: str, chat_template: str, gen: GenConfig, source: str = ".") -> str:
    """An Ollama Modelfile for the model next to it (`ollama create NAME -f Modelfile`): `source` is
    the merged folder (".") or a GGUF file in it."""
    lines = [f"# Ollama: ollama create {name} -f Modelfile   (run in this folder)", f"FROM {source}", ""]
    if "<|im_start|>" in (chat_template or ""):
        lines += [f'TEMPLATE """{CHATML_TEMPLATE}"""', 'PARAMETER stop "<|im_end|>"', ""]
    lines += [f"PARAMETER temperature {gen.temperature}", f"PARAMETER top_p {gen.top_p}",
              f"PARAMETER repeat_penalty {gen.repetition_penalty}"]
    return "\n".join(lines) + "\n"


def _merged(root: Path, source, work: Path):
    """The run's base with the adapter folded into its weights, and its tokenizer saved in `work`.
    The base is loaded unquantized for the merge: folding a LoRA into 4-bit weights would round
    it away."""
    from peft import PeftModel

    from studio.models import load_base, load_tokenizer, resolve

    folder = adapter_folder(root, source)  # refuses pickles and unfinished checkpoints
    cfg = runs.read_config(runs.run_dir(root, source.run_id))
    base_source = resolve(cfg.model, root)
    model = load_base(base_source, "none", "cpu", "fp32")
    model = PeftModel.from_pretrained(model, str(folder)).merge_and_unload()
    model.config.use_cache = True  # load_base turns it off for training; drafting wants it
    tokenizer = load_tokenizer(base_source)
    # the conversation format the run trained with (`chat_template` names one: tokenizer, chatml, plain)
    tokenizer.chat_template = template_for(tokenizer, cfg.chat_template)
    tokenizer.save_pretrained(work)
    (work / "studio-run.json").write_text(json.dumps(_describe(root, source), indent=2, ensure_ascii=False,
                                                     default=str), encoding="utf-8")
    return model, tokenizer


def _publish(work: Path, out: Path) -> Path:
    if out.exists():
        shutil.rmtree(out)
    work.replace(out)
    return out


def merged_model(root: Path, run: str) -> Path:
    """`exports/<run>[@step-N]-merged/` for `run` ("RUN_ID" or "RUN_ID@step-N"): the base with the
    adapter folded in (bf16 safetensors), the tokenizer, and a Modelfile."""
    import torch

    source = parse_source(run)
    out = exports_dir(root) / f"{source.key}-merged"
    work = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{source.key}-"))
    try:
        model, tokenizer = _merged(root, source, work)
        model.to(torch.bfloat16).save_pretrained(work, safe_serialization=True)
        (work / "Modelfile").write_text(modelfile(source.key, tokenizer.chat_template or "", GenConfig()),
                                        encoding="utf-8")
        return _publish(work, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def gguf_model(root: Path, run: str, quant: str = "f16") -> Path:
    """`exports/<run>[@step-N]-<quant>-gguf/`: the merged model as one `<run>-<quant>.gguf` file
    (quant f16, bf16 or q8_0) with its tokenizer, special tokens and chat template inside, and a
    Modelfile whose FROM names that file. Refuses an architecture the exporter does not write
    before anything is loaded."""
    from studio.models import model_facts
    from studio.train.gguf_export import ARCHITECTURES, QUANTS, GGUFUnsupported, write_gguf

    if quant not in QUANTS:
        raise GGUFUnsupported("gguf.quant", quant=quant, choices=", ".join(QUANTS))
    source = parse_source(run)
    model_name = runs.read_config(runs.run_dir(root, source.run_id)).model
    config = model_facts(root, model_name)[1]
    if config and config.get("model_type") not in ARCHITECTURES:
        raise GGUFUnsupported("gguf.architecture", arch=config.get("model_type"), model=model_name,
                              supported=", ".join(ARCHITECTURES))
    out = exports_dir(root) / f"{source.key}-{quant}-gguf"
    work = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{source.key}-"))
    try:
        model, tokenizer = _merged(root, source, work)
        file_name = f"{source.key}-{quant}.gguf"
        write_gguf(model, work, work / file_name, quant, name=source.key)
        for name in list(work.iterdir()):  # the tokenizer files went into the GGUF
            if name.name not in (file_name, "studio-run.json"):
                name.unlink()
        (work / "Modelfile").write_text(modelfile(source.key, tokenizer.chat_template or "", GenConfig(),
                                                  source=f"./{file_name}"), encoding="utf-8")
        return _publish(work, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
