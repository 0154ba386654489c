"""The interface in English and Chinese, through gradio's i18n: components carry a key, the
browser shows the text of its language (gradio's Settings panel, in the footer, switches it).
`--lang` fixes one language for every visitor.

Messages built while a handler runs (errors, reports) stay English; the keys cover every label,
button, heading and hint.
"""
from __future__ import annotations

import gradio as gr

STRINGS: dict[str, tuple[str, str]] = {
    # the shell
    "app.intro": ("# Writing Studio\nBring a corpus, fine-tune a writing model with 4-bit QLoRA, compare base and "
                  "tuned drafts side by side.",
                  "# 写作工作室\n导入你的语料，一键用 4-bit QLoRA 微调写作模型，并排比较基座模型与微调模型的草稿。"),
    "app.intro_demo": ("# Writing Studio: demo\nDraft with the base model and the tuned models published here, side "
                       "by side. This demo is read-only.",
                       "# 写作工作室：演示\n用基座模型和此处发布的微调模型并排写草稿。本演示为只读模式。"),
    "tab.corpus": ("Corpus", "语料"),
    "tab.train": ("Train", "训练"),
    "tab.write": ("Write", "写作"),
    "tab.runs": ("Runs", "训练记录"),
    "tab.models": ("Models", "模型"),
    "common.refresh": ("Refresh", "刷新"),
    # corpus
    "corpus.help": ("Bring your writing: txt, md, docx, pdf, epub, jsonl, json, csv, parquet or a zip of them. Text "
                    "in any common encoding, Chinese included (UTF-8, GB18030/GBK, Big5, UTF-16). Separate pieces "
                    "inside one text file with a line of `---`. Each ingest makes a new version; nothing earlier is "
                    "changed.",
                    "导入你的文字：txt、md、docx、pdf、epub、jsonl、json、csv、parquet，或把它们打成一个 zip。"
                    "常见编码都能识别，中文也不例外（UTF-8、GB18030/GBK、Big5、UTF-16）。同一个文本文件里的多篇作品，"
                    "用单独一行 `---` 隔开。每次导入都会生成新版本，之前的内容一概不动。"),
    "corpus.files": ("Files", "文件"),
    "corpus.name": ("Corpus name", "语料名称"),
    "corpus.mode": ("Mode", "类型"),
    "corpus.mode_help": ("text: prose for a voice · pairs: prompt → response (e.g. document → summary) · chat: messages",
                         "text：学习文风的散文 · pairs：提示 → 回答（如 原文 → 摘要）· chat：多轮对话"),
    "corpus.ingest": ("Ingest", "导入"),
    "corpus.sample": ("Use the sample corpus (a lighthouse keeper's log)", "使用示例语料（灯塔看守人的日志）"),
    "corpus.fields": ("Fields (jsonl, json, csv, parquet): leave empty to recognise common names",
                      "字段（jsonl、json、csv、parquet）：留空则自动识别常见字段名"),
    "corpus.cleaning": ("Cleaning rules and split", "清洗规则与数据划分"),
    "corpus.lengths": ("Item lengths", "条目长度分布"),
    "corpus.dropped": ("Dropped items: what was left out, and why", "被剔除的条目：剔除了什么，为什么"),
    "corpus.pick": ("Corpus", "语料"),
    "corpus.reason": ("Reason", "原因"),
    "corpus.page": ("Page", "页码"),
    # train
    "train.corpus": ("Corpus", "语料"),
    "train.preset": ("Preset", "预设"),
    "train.model": ("Base model", "基座模型"),
    "train.model_help": ("A name from presets/models.yaml, a hub id, or a local folder.",
                         "presets/models.yaml 里的名称、Hugging Face 模型 ID，或本地文件夹。"),
    "train.epochs": ("Epochs", "训练轮数"),
    "train.epochs_help": ("Passes over the training split.", "遍历训练集的次数。"),
    "train.advanced": ("Advanced settings (every field; the preset fills them)", "高级设置（全部参数，由预设自动填写）"),
    "train.train": ("Train", "开始训练"),
    "train.cancel": ("Cancel run", "取消训练"),
    "train.resume": ("Resume run", "继续训练"),
    "train.refresh": ("Refresh lists", "刷新列表"),
    "train.run": ("Run", "训练任务"),
    "train.loss": ("Loss (train and validation)", "损失（训练集与验证集）"),
    "train.lr": ("Learning rate", "学习率"),
    "train.sweep": ("Hyperparameter sweep (learning rate, LoRA rank, epochs)", "超参数搜索（学习率、LoRA 秩、训练轮数）"),
    "train.sweep_help": ("Short trials, one after another, each an ordinary run judged on validation loss; optuna's "
                         "TPE picks the next trial from the earlier ones, random samples, grid walks every point. The "
                         "form above gives every other setting.",
                         "依次进行若干次短训练，每次都是一个普通的训练任务，以验证集损失评判；optuna 的 TPE 根据之前的结果"
                         "挑选下一组参数，random 随机抽样，grid 遍历每个组合。其余设置沿用上面的表单。"),
    "train.trials": ("Trials", "试验次数"),
    "train.sampler": ("Sampler", "采样方式"),
    "train.trial_steps": ("Steps per trial", "每次试验步数"),
    "train.trial_steps_help": ("0: each trial runs the full schedule.", "0 表示每次试验都跑完整个训练计划。"),
    "train.start_sweep": ("Start sweep", "开始搜索"),
    "train.sweep_pick": ("Sweep", "搜索任务"),
    # write
    "write.mode": ("Mode", "模式"),
    "write.mode_continue": ("continue", "续写"),
    "write.mode_instruct": ("instruct", "指令"),
    "write.mode_summarize": ("summarize", "摘要"),
    "write.hint_continue": ("Your opening, continued in the tuned voice", "你写开头，模型用微调后的文风续写"),
    "write.hint_instruct": ("A request, sent through the model's chat template", "一个请求，经由模型的对话模板发送"),
    "write.hint_summarize": ("A document to summarize, with the run's prompt template", "待摘要的文档，套用该训练任务的提示模板"),
    "write.base_pane": ("Base model pane", "显示基座模型"),
    "write.prompt": ("Prompt", "提示"),
    "write.tuned_1": ("Tuned pane 1", "微调模型 1"),
    "write.tuned_2": ("Tuned pane 2", "微调模型 2"),
    "write.tuned_3": ("Tuned pane 3", "微调模型 3"),
    "write.refresh": ("Refresh runs", "刷新训练任务"),
    "write.sampling": ("Sampling (the same for every pane)", "采样设置（所有窗格相同）"),
    "write.max_new": ("Max new tokens", "最多生成 token 数"),
    "write.temperature": ("Temperature (0 = greedy)", "温度（0 为贪心解码）"),
    "write.top_p": ("Top-p", "Top-p"),
    "write.top_k": ("Top-k (0 = off)", "Top-k（0 为关闭）"),
    "write.repetition": ("Repetition penalty", "重复惩罚"),
    "write.seed": ("Seed", "随机种子"),
    "write.drafts": ("Drafts per pane", "每个窗格的草稿数"),
    "write.draft": ("Draft", "生成草稿"),
    "write.stop": ("Stop", "停止"),
    "write.base_label": ("Base model", "基座模型"),
    "write.copied": ("Copied from the corpus", "与语料雷同的部分"),
    "write.export_md": ("Export Markdown", "导出 Markdown"),
    "write.export_json": ("Export JSON", "导出 JSON"),
    "write.export_file": ("Export", "导出文件"),
    "write.blind": ("Blind comparison: which draft is better?", "盲评：哪份草稿更好？"),
    "write.blind_help": ("Two drafts of the last comparison, sides shuffled, labels hidden until you pick. Each pick "
                         "is saved in `feedback/preferences.jsonl` and can train the model (DPO).",
                         "取上一次比较的两份草稿，左右随机打乱，选择之前不显示来源。每次选择都保存在 "
                         "`feedback/preferences.jsonl`，可用于训练模型（DPO）。"),
    "write.duel_start": ("Start a blind comparison (base vs tuned pane 1)", "开始盲评（基座模型 vs 微调模型 1）"),
    "write.side_a": ("Draft A", "草稿 A"),
    "write.side_b": ("Draft B", "草稿 B"),
    "write.pick_a": ("A is better", "A 更好"),
    "write.pick_tie": ("Tie", "不分上下"),
    "write.pick_b": ("B is better", "B 更好"),
    "write.win_rates": ("Win rate against the base", "对基座模型的胜率"),
    "write.dpo_export": ("Export preferences as DPO pairs", "把偏好导出为 DPO 数据对"),
    "write.dpo_train": ("Train tuned pane 1 from preferences (DPO)", "用偏好数据训练微调模型 1（DPO）"),
    "write.dpo_file": ("DPO pairs", "DPO 数据对"),
    # runs
    "runs.table": ("Every run", "全部训练任务"),
    "runs.first": ("First run", "任务一"),
    "runs.second": ("Second run (to compare)", "任务二（用于比较）"),
    "runs.compare": ("Compare the two", "比较两个任务"),
    "runs.resume": ("Resume the first", "继续任务一"),
    "runs.publish": ("Publish the first to demo mode", "把任务一发布到演示模式"),
    "runs.unpublish": ("Hide the first from demo mode", "从演示模式撤下任务一"),
    "runs.delete": ("Delete the first…", "删除任务一…"),
    "runs.delete_confirm": ("Yes, delete it", "确认删除"),
    "runs.delete_keep": ("Keep it", "保留"),
    "runs.curves": ("Loss curves of both runs", "两个任务的损失曲线"),
    "runs.export": ("Export the first run's model", "导出任务一的模型"),
    "runs.export_help": ("The adapter as a zip (for PEFT), or merged into the base as a safetensors model folder that "
                         "plain transformers loads, with an Ollama `Modelfile`. GGUF is not offered: its converter is "
                         "not on PyPI (see the README).",
                         "可导出适配器 zip（供 PEFT 使用），或把适配器合并进基座模型，得到普通 transformers 即可加载的 "
                         "safetensors 模型文件夹，并附带 Ollama `Modelfile`。暂不提供 GGUF：它的转换工具不在 PyPI 上"
                         "（详见 README）。"),
    "runs.export_zip": ("Export adapter (zip)", "导出适配器（zip）"),
    "runs.export_merged": ("Export merged model", "导出合并后的模型"),
    "runs.export_file": ("Adapter zip", "适配器 zip"),
    # models
    "models.help": ("Base models the studio knows (presets/models.yaml). Cached models work offline; the memory "
                    "columns are the weights alone, and training adds the adapter, activations and logits (the Train "
                    "tab estimates those).",
                    "工作室已登记的基座模型（presets/models.yaml）。已缓存的模型可离线使用；内存一栏只计模型权重，"
                    "训练时还要加上适配器、激活值和 logits（训练页会给出估算）。"),
}

LANGUAGES = ("en", "zh")


def translations(lang: str | None = None) -> gr.I18n:
    """The tables for gradio; with `lang`, that language for every browser locale."""
    tables = {code: {key: pair[n] for key, pair in STRINGS.items()} for n, code in enumerate(LANGUAGES)}
    if lang:
        forced = tables[lang]
        return gr.I18n(en=forced, zh=forced, **{"zh-CN": forced, "zh-TW": forced})
    return gr.I18n(**tables, **{"zh-CN": tables["zh"], "zh-TW": tables["zh"]})


_I18N = translations()


def T(key: str):
    """The translatable text of `key`; an unknown key fails when the UI is built, not in a browser."""
    if key not in STRINGS:
        raise KeyError(f"no interface text '{key}' in studio/ui/i18n.py")
    return _I18N(key)
