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
        self.compute_dtype = self.cfg.compute_dtype  # resolved by load_base
        self._train_path: dict | None = None
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
        """The frozen base, ready for LoRA training on the run's path (train/calibrate.py: `auto`
        resolved, on a CPU not measured yet after measuring it; the choice and why said in the
        status and kept in the run folder, so a resumed run trains as it began)."""
        from studio.models import compute_dtype, load_base, prepare_for_training

        cfg = self.cfg
        path = self.training_path()
        self.quantization, self.quantization_note, self.compute_dtype = path["quantization"], path["note"], path["compute_dtype"]
        self.report.update(message=message("status.loading", model=cfg.model, quantization=self.quantization,
                                           device=self.device),
                           quantization=self.quantization, quantization_note=self.quantization_note)
        model = load_base(source, self.quantization, self.device, self.compute_dtype, cfg.double_quant,
                          uniform_storage=cfg.shard and self.ranks.world > 1, training=True)
        dtype = compute_dtype(self.device, self.compute_dtype)
        self.report.update(compute_dtype=str(dtype).removeprefix("torch."))
        return prepare_for_training(model, self.quantization, dtype, cfg.gradient_checkpointing)

    def training_path(self) -> dict:
        """{quantization, compute_dtype, note, path} of this run, chosen once (rank 0) and kept; read
        once a process (rank 0 loads the base again alone after sharded training: no barrier then)."""
        if self._train_path is None:
            self._train_path = self._choose_training_path()
        return self._train_path

    def _choose_training_path(self) -> dict:
        from dataclasses import asdict

        from studio.models import model_facts
        from studio.train import calibrate

        cfg = self.cfg

        def choose() -> dict:
            params_m, _ = model_facts(self.root, cfg.model)
            if self.device == "cpu" and "auto" in (cfg.quantization, cfg.compute_dtype) \
                    and calibrate.remembered(self.root, cfg.model) is None:
                self.report.update(message=message("status.calibrating", model=cfg.model,
                                                   seconds=round(calibrate.BUDGET_S / 2)))
            return asdict(calibrate.training_path(self.root, cfg.model, self.device, cfg.quantization, cfg.compute_dtype,
                                                  params_m, measure_now=True))

        return self.computed_once(RunFolder.TRAIN_PATH, choose) or jsonio.read_json(self.folder / RunFolder.TRAIN_PATH)
