"""What every recipe gets from the worker: the run's folder, config, processes, reporter and
device, and the steps they share before training (the corpus as blocks, the base loaded for
LoRA, a result computed once and kept in the run folder)."""
from __future__ import annotations

from pathlib import Path

from studio import jsonio
from studio.corpus.store import read_manifest, read_split
from studio.messages import message
from studio.runs import read_config
from studio.runs import RunFolder
from studio.train.reporter import Reporter, Silent


class RunContext:
    def __init__(self, folder: Path):
        from studio.train.distributed import Ranks

        self.folder = folder
        self.root = folder.parent.parent  # <root>/runs/<id>
        self.cfg = read_config(folder)
        self.ranks = Ranks()
        self.report = Reporter(folder) if self.ranks.main else Silent()
        self.device = "cpu"
        self.quantization, self.quantization_note = "", ""  # what the base is trained in; why, when `auto` chose
        self.cancel_requested = False
        self.holding_slot = False
        self.corpus_version = ""  # the version prepare_data read

    def computed_once(self, filename: str, compute, then=None) -> dict:
        """compute() on rank 0 the first time only, kept in the run folder as `filename` so a resumed
        run reads it back instead; `then(result)` runs after it is kept. Other ranks wait, get {}."""
        path = self.folder / filename
        if not self.ranks.main:
            self.ranks.barrier()  # rank 0 computes
            return {}
        if path.exists():
            self.ranks.barrier()
            return jsonio.read_json(path)
        result = compute()
        jsonio.write_json_atomic(path, result)
        if then:
            then(result)
        self.ranks.barrier()
        return result

    def blocks(self, records: list[dict], tok) -> list[list[int]]:
        """Corpus records as the run's training blocks (its template, masking, packing and length)."""
        from studio.formatting import record_to_example
        from studio.train.packing import one_per_block, pack

        cfg = self.cfg
        examples = [record_to_example(r, tok, cfg.chat_template, cfg.completion_only, cfg.prompt_template) for r in records]
        return (pack if cfg.packing else one_per_block)(examples, cfg.seq_len, tok.eos_token_id)

    def prepare_data(self, tok):
        """(train blocks, val blocks, corpus mode, val records); the corpus version read is kept
        in corpus.json."""
        cfg = self.cfg
        manifest = read_manifest(self.root, cfg.corpus, cfg.corpus_version)
        version = self.corpus_version = manifest["version"]
        jsonio.write_json_atomic(self.folder / RunFolder.CORPUS, manifest)
        val_records = read_split(self.root, cfg.corpus, version, "val")
        return (self.blocks(read_split(self.root, cfg.corpus, version, "train"), tok), self.blocks(val_records, tok),
                manifest["mode"], val_records)

    def load_base(self, source: str):
        """The frozen base, ready for LoRA training: quantized as the run says (`auto` resolved,
        and the choice said in the status), with input gradients for the adapter's backward pass."""
        from peft import prepare_model_for_kbit_training

        import torch

        from studio.models import compute_dtype, compute_end_to_end, load_base, model_facts, training_quantization

        cfg = self.cfg
        params_m, _ = model_facts(self.root, cfg.model)
        quantization, self.quantization_note = training_quantization(cfg.quantization, self.device, params_m)
        self.quantization = quantization
        self.report.update(message=message("status.loading", model=cfg.model, quantization=quantization, device=self.device),
                           quantization=quantization, quantization_note=self.quantization_note)
        model = load_base(source, quantization, self.device, cfg.compute_dtype, cfg.double_quant,
                          uniform_storage=cfg.shard and self.ranks.world > 1, training=True)
        dtype = compute_dtype(self.device, cfg.compute_dtype)
        self.report.update(compute_dtype=str(dtype).removeprefix("torch."))
        if dtype == torch.bfloat16 and quantization != "int8":  # the GPU path: bf16 end to end
            return compute_end_to_end(model, dtype, cfg.gradient_checkpointing)
        if quantization != "none":
            return prepare_model_for_kbit_training(model, use_gradient_checkpointing=cfg.gradient_checkpointing,
                                                   gradient_checkpointing_kwargs={"use_reentrant": False})
        if cfg.gradient_checkpointing:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
            model.enable_input_require_grads()
        return model
