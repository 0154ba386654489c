"""Text the tabs build while a handler runs (progress, evaluations, estimates, what a click did),
in English and Chinese. No gradio here: a handler finds its visitor's language with
studio.ui.i18n.request_lang and passes it down. What the worker and the core write themselves
(a run's status line, an error naming a file or setting) is passed through as it is."""
from __future__ import annotations

MESSAGES: dict[str, tuple[str, str]] = {
    "minutes": ("{m} min {s:02d} s", "{m} 分 {s:02d} 秒"),
    "seconds": ("{s} s", "{s} 秒"),
    "state.queued": ("queued", "排队中"),
    "state.running": ("running", "训练中"),
    "state.completed": ("completed", "已完成"),
    "state.failed": ("failed", "失败"),
    "state.cancelled": ("cancelled", "已取消"),
    "state.interrupted": ("interrupted", "已中断"),
    "progress.none": ("No run selected. Start one above.", "尚未选择训练任务。请在上方开始一个。"),
    "progress.step": ("step {step}/{total}", "第 {step}/{total} 步"),
    "progress.left": (" · about {left} left", " · 约剩 {left}"),
    "progress.advice": ("What to do:", "建议："),
    "eval.heading": ("| held-out split | base | tuned |", "| 留出集 | 基座 | 微调后 |"),
    "eval.perplexity": ("perplexity", "困惑度"),
    "eval.loss": ("loss", "损失"),
    "eval.pairs": ("{name} ({n} pairs)", "{name}（{n} 对）"),
    "eval.trained": ("Trained on {tokens:,} tokens in {time}.", "共训练 {tokens:,} 个 token，用时 {time}。"),
    "eval.none": ("No evaluation yet.", "暂无评测结果。"),
    "eval.style": ("style distance from your held-out text ({n} openings; lower is closer; your own text: {writer})",
                   "与你的留出文本的风格距离（{n} 个开头；越低越接近；你自己的文本：{writer}）"),
    "eval.style_wins": ("tuned draft closer to your style", "微调草稿更接近你的风格"),
    "eval.style_wins_value": ("in {wins} of {n} openings", "{n} 个开头中有 {wins} 个"),
    "style.pick": ("pick a tuned run in tuned pane 1 first.", "请先在微调窗格 1 中选择一个训练。"),
    "style.sample": ("First opening: *{opening}*\n\n**Base:** {base}\n\n**Tuned:** {tuned}",
                     "第一个开头：*{opening}*\n\n**基座：** {base}\n\n**微调后：** {tuned}"),
    "eval.copied": ("copied from the corpus (style-match drafts)", "照抄语料的比例（风格匹配草稿）"),
    "dpo.heading": ("| on the preference pairs | before | after |", "| 在偏好对上 | 训练前 | 训练后 |"),
    "dpo.accuracy": ("chosen preferred (accuracy)", "选中稿更受偏好（准确率）"),
    "dpo.margin": ("mean log-likelihood margin", "平均对数似然差"),
    "dpo.summary": ("DPO on {pairs} pairs from {init}, {steps} steps in {time}.",
                    "在 {pairs} 对偏好数据上做 DPO，起点 {init}，共 {steps} 步，用时 {time}。"),
    "estimate.minutes": ("about **{m:.0f} min**", "约 **{m:.0f} 分钟**"),
    "estimate.under_minute": ("under a minute", "不到一分钟"),
    "estimate.unknown": ("unknown", "未知"),
    "estimate.on": ("{time} on {device}", "在 {device} 上{time}"),
    "estimate.speed": (" at {speed:.0f} tokens/s ({source})", "，每秒 {speed:.0f} 个 token（{source}）"),
    "estimate.memory": ("about **{total:.1f} GB** ({parts} GB; {lora:.1f} M trainable adapter parameters)",
                        "约 **{total:.1f} GB**（{parts} GB；适配器可训练参数 {lora:.1f} M）"),
    "estimate.memory_unknown": ("unknown until the model is on this machine", "模型下载到本机后才能估算"),
    "estimate.text": ("**Before you start:** {steps} steps ({per_epoch} per epoch), about {tokens:,} tokens; "
                      "{time}{speed}. Memory ({quantization}): {memory}.",
                      "**开始之前：**共 {steps} 步（每轮 {per_epoch} 步），约 {tokens:,} 个 token；"
                      "预计{time}{speed}。内存（{quantization}）：{memory}。"),
    "estimate.pick": ("Pick a corpus and a preset to see the estimate.", "选好语料和预设后，这里会显示估算。"),
    "estimate.cannot": ("**Cannot estimate:** {error}", "**无法估算：**{error}"),
    "error": ("**Error:** {error}", "**出错了：**{error}"),
    "error.no_corpus": ("ingest a corpus first (Corpus tab), then pick it here.", "请先在“语料”页导入语料，再到这里选择。"),
    "error.no_run": ("pick a run first.", "请先选择一个训练任务。"),
    "run.started": ("Started run `{run}`.", "已开始训练任务 `{run}`。"),
    "run.cancelling": ("Cancelling `{run}`: it saves a checkpoint and stops.", "正在取消 `{run}`：保存检查点后停止。"),
    "run.resuming": ("Resuming `{run}` from its last checkpoint.", "正在从最近的检查点继续 `{run}`。"),
    "run.resumed": ("Resumed run `{run}`: follow it in the Train tab.", "已继续训练任务 `{run}`：请到“训练”页查看进度。"),
    "run.published": ("Run `{run}` is shown in demo mode.", "训练任务 `{run}` 已在演示模式中公开。"),
    "run.hidden": ("Run `{run}` is hidden from demo mode.", "训练任务 `{run}` 已从演示模式中隐藏。"),
    "run.pick_two": ("pick two different runs.", "请选择两个不同的训练任务。"),
    "run.pick_first": ("pick a run (first run).", "请选择一个训练任务（任务一）。"),
    "run.delete_ask": ("Delete run **{run}**? Its folder goes: settings, checkpoints, adapter, curves and evaluation. "
                       "Corpora, other runs and drafts stay.",
                       "确定删除训练任务 **{run}** 吗？它的整个文件夹都会删除：设置、检查点、适配器、曲线和评测结果。"
                       "语料、其他任务和草稿都不受影响。"),
    "run.deleted": ("Deleted run `{run}`.", "已删除训练任务 `{run}`。"),
    "run.kept": ("Nothing deleted.", "没有删除任何内容。"),
    "export.zip_done": ("Adapter of `{run}` exported.", "已导出 `{run}` 的适配器。"),
    "export.merged_done": ("Merged model written to `{folder}`: load it with `AutoModelForCausalLM.from_pretrained` or, "
                           "for Ollama, run `ollama create {run} -f Modelfile` in that folder.",
                           "合并后的模型已写入 `{folder}`：可用 `AutoModelForCausalLM.from_pretrained` 加载；"
                           "若用 Ollama，在该文件夹里运行 `ollama create {run} -f Modelfile`。"),
    "export.gguf_done": ("GGUF written: `{file}` ({size:.0f} MB). For Ollama run `ollama create {run} -f Modelfile` in "
                         "`{folder}`; llama.cpp and LM Studio open the file directly.",
                         "已写出 GGUF：`{file}`（{size:.0f} MB）。若用 Ollama，在 `{folder}` 里运行 "
                         "`ollama create {run} -f Modelfile`；llama.cpp 和 LM Studio 可直接打开该文件。"),
    "sweep.started": ("Started sweep `{sweep}`: trials appear in the table as they finish.",
                      "已开始超参数搜索 `{sweep}`：每完成一次试验，表格里就多一行。"),
}

LANGUAGES = ("en", "zh")


def say(lang: str, key: str, **fields) -> str:
    """The message `key` in `lang` (English when the language is not one we have), filled in."""
    return MESSAGES[key][1 if lang == "zh" else 0].format(**fields)
