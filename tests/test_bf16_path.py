"""The QLoRA path computes in its compute dtype end to end, proven on the CPU.

On a GPU the studio trains a 4-bit base with bf16 compute. Built the same way here (the recipe's
own load_base and adapter, 4-bit NF4 through bitsandbytes' CPU backend, compute_dtype bf16), one
training step runs with forward hooks on every linear layer and a record of every logits chunk of
the fused loss: each takes and gives bf16 (the 4-bit products, attention, MLP, LoRA and the LM
head alike), while the LoRA weights the optimizer updates stay float32 and the loss is reduced in
float32. The CPU default (float32 compute) is left as it was: everything float32.
"""
import collections
import time

import pytest
import torch

from conftest import tiny_overrides


def one_step(root, corpus, model_dir, monkeypatch, during=None, **settings):
    """(dtypes seen per layer kind, the LoRA parameters' dtypes, the recipe) after one training
    step of a run built by the sft recipe on the CPU; `during(recipe)` runs before the step."""
    from studio import jobs, service
    from studio.runs import run_dir
    import studio.train.loss as loss_module
    from studio.train.context import RunContext
    from studio.train.sft import SftRecipe

    overrides = tiny_overrides(model_dir, eval_every=0, save_every=0, bias_probe="false", style_openings=0, **settings)
    run = RunContext(run_dir(root, jobs.create_run(root, service.training_config(corpus, "quick-cpu-demo", overrides))))
    seen = collections.Counter()
    logits = loss_module.head_logits

    def record_logits(hidden, weight):
        chunk = logits(hidden, weight)
        seen[("logits chunk", str(hidden.dtype), str(chunk.dtype))] += 1
        return chunk

    monkeypatch.setattr(loss_module, "head_logits", record_logits)
    try:
        recipe = SftRecipe(run)
        recipe.setup()
        for module in recipe.model.modules():
            if isinstance(module, torch.nn.Linear):
                module.register_forward_hook(lambda m, args, out: seen.update(
                    [(type(m).__name__, str(args[0].dtype), str(out.dtype))]))
        recipe.model.train()
        if during:
            during(recipe)
        recipe.step(1, time.time())
    finally:
        run.report.close()
    lora = {str(p.dtype) for p in recipe.params}
    return seen, lora, recipe


@pytest.mark.parametrize("quantization", ["nf4", "none"])
def test_bf16_compute_runs_every_linear_layer_and_logits_chunk_in_bf16(root, sample_corpus, tiny_model_dir,
                                                                       monkeypatch, quantization):
    seen, lora, recipe = one_step(root, sample_corpus, tiny_model_dir, monkeypatch, quantization=quantization,
                                 compute_dtype="bf16", batch_size=2, grad_accum=2)
    kinds = {kind for kind, _, _ in seen}
    assert ("Linear4bit" in kinds) == (quantization == "nf4") and "Linear" in kinds and "logits chunk" in kinds
    wrong = {key: n for key, n in seen.items() if key[1:] != ("torch.bfloat16", "torch.bfloat16")}
    assert not wrong, f"layers not computing in bf16 (kind, input, output): {wrong}"
    assert lora == {"torch.float32"}  # the optimizer's master weights
    assert recipe.state.step == 1 and recipe.state.seen > 0


def test_the_cpu_default_computes_in_float32_and_a_step_waits_for_the_device_once(root, sample_corpus, tiny_model_dir,
                                                                                     monkeypatch):
    """Unchanged on the CPU: float32 throughout. And a float read back from a tensor waits for the
    device (a GPU's queue of kernels drains): the micro-batches' losses are summed where they are,
    and the step reads its loss and gradient norm back together, after clipping."""
    reads = collections.Counter()

    def counting(name):
        real = getattr(torch.Tensor, name)

        def read(tensor, *args):
            if tensor.is_floating_point():
                reads[(name, counting.where)] += 1
            return real(tensor, *args)
        return read

    def count_reads(recipe):
        for name in ("item", "tolist", "__float__"):
            monkeypatch.setattr(torch.Tensor, name, counting(name))
        for where in ("accumulate", "clip"):
            real = getattr(recipe, where)

            def scoped(*args, real=real, where=where):
                counting.where = where
                try:
                    return real(*args)
                finally:
                    counting.where = "step"
            setattr(recipe, where, scoped)

    counting.where = "step"
    seen, lora, recipe = one_step(root, sample_corpus, tiny_model_dir, monkeypatch, during=count_reads, batch_size=1,
                                  grad_accum=4)
    assert seen and {key[1:] for key in seen} == {("torch.float32", "torch.float32")}
    assert lora == {"torch.float32"} and recipe.state.step == 1
    assert not {key: n for key, n in reads.items() if key[1] in ("accumulate", "clip")}, reads
    assert reads[("tolist", "step")] == 1  # loss and gradient norm, together
