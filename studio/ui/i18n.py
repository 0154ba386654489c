"""The interface in English and Chinese, through gradio's i18n: components carry a key, the
browser shows the text of its language (gradio's Settings panel, in the footer, switches it).
`--lang` fixes one language for every visitor.

The keys cover every label, button, heading, hint and setting. Text built while a handler runs
(progress, evaluations, estimates, what a click did) comes from studio/messages.py in the
visitor's language (request_lang), errors from the core included.
"""
from __future__ import annotations

import dataclasses
import json

import gradio as gr

from studio.config import CorpusConfig, TrainConfig
from studio.messages import LANGUAGES

STRINGS: dict[str, tuple[str, str]] = {
    # the shell
    "app.intro": ("# Writing Studio\nBring a corpus, fine-tune a writing model with 4-bit QLoRA, compare base and "
                  "tuned drafts side by side.",
                  "# 写作工作室\n导入你的语料，一键用 4-bit QLoRA 微调写作模型，并排比较基座模型与微调模型的草稿。"),
    "app.intro_demo": ("# Writing Studio: demo\nDraft with the base model and the tuned models published here, side "
                       "by side, and write a manuscript of your own with them: it is kept for this browser only. "
                       "Nothing of the studio's own can be changed here.",
                       "# 写作工作室：演示\n用基座模型和此处发布的微调模型并排写草稿，也可以用它们写一份自己的稿件："
                       "稿件只为此浏览器保存。这里不能修改工作室自己的任何内容。"),
    "tab.corpus": ("Corpus", "语料"),
    "tab.train": ("Train", "训练"),
    "tab.write": ("Write", "写作"),
    "tab.runs": ("Runs", "训练记录"),
    "tab.models": ("Models", "模型"),
    "shared.refresh": ("Refresh", "刷新"),
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
    "train.budget": ("Time budget (minutes)", "时间预算（分钟）"),
    "train.budget_help": ("Train for the minutes you have, evaluation included: the steps follow from the speed measured "
                          "here, and epochs are ignored. Empty or 0: no budget.",
                          "按你有的分钟数训练（含评测）：步数由本机实测速度算出，不再按轮数计算。留空或 0：不设预算。"),
    "train.advanced": ("Advanced settings (every field; the preset fills them)", "高级设置（全部参数，由预设自动填写）"),
    "train.processes": ("Processes", "进程数"),
    "train.processes_help": ("Training processes on this machine: one per GPU (or a few on the CPU); 1 = a plain worker.",
                             "本机上的训练进程数：每块 GPU 一个（CPU 上可开几个）；1 = 单个进程。"),
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
    "write.style": ("Style match: do the tuned drafts sound more like you?", "风格匹配：微调后的草稿更像你写的吗？"),
    "write.style_help": ("The run in tuned pane 1 and the base continue openings from your held-out text (same seed); "
                         "each continuation is scored against your held-out writing with Burrows' Delta (frequent words, "
                         "for Chinese characters and character pairs, punctuation, sentence length). Lower is closer.",
                         "微调窗格 1 中的训练与基座模型，用同一随机种子续写你留出文本中的开头；每篇续写都用 Burrows' Delta"
                         "（常用词，中文为常用字与字对、标点、句长）与你的留出文本比较风格。数值越低越接近。"),
    "write.style_openings": ("Openings", "开头数"),
    "write.style_start": ("Measure the style match", "测量风格匹配"),
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
    # the writing desk (studio/ui/desk.py)
    "desk.section": ("Manuscript", "稿件"),
    "desk.pick": ("Manuscript", "稿件"),
    "desk.title": ("Title", "标题"),
    "desk.new": ("New", "新建"),
    "desk.rename": ("Rename", "重命名"),
    "desk.delete": ("Delete", "删除"),
    "desk.text": ("The manuscript (saved as you type)", "稿件正文（输入时自动保存）"),
    "desk.continue": ("Continue", "续写"),
    "desk.retry": ("Retry (next seed)", "重试（换下一个种子）"),
    "desk.undo": ("Undo", "撤销"),
    "desk.redo": ("Redo", "重做"),
    "desk.use": ("Use this", "采用这段"),
    "desk.context_section": ("What the model sees, part by part", "模型看到的内容（逐部分）"),
    "desk.memory": ("Memory", "记忆"),
    "desk.memory_help": ("Always put before the manuscript: who, where, what matters.",
                         "总是放在稿件之前：人物、地点、要紧的事。"),
    "desk.note": ("Author's note", "作者注"),
    "desk.note_help": ("Put just before the end the model continues: tone, what should happen next.",
                       "放在模型续写之处的前面：语气、接下来该发生什么。"),
    "desk.context": ("What the model sees", "模型看到的内容"),
    "desk.sources": ("Who wrote what", "谁写了哪一段"),
    "desk.history_section": ("History and export", "历史记录与导出"),
    "desk.history_list": ("List revisions", "列出各个版本"),
    "desk.history": ("Revision", "版本"),
    "desk.restore": ("Restore this revision", "恢复这个版本"),
    "desk.version": ("The text at that revision", "该版本的正文"),
    "desk.export_format": ("Format", "格式"),
    "desk.export_sources": ("With a sources appendix (who wrote each passage)", "附上来源附录（每段由谁写）"),
    "desk.export": ("Export the manuscript", "导出稿件"),
    "desk.export_file": ("Manuscript file", "稿件文件"),
    # the desk's second half: from the cursor, Stop, token alternatives, summary, style (studio/ui/desk_tools.py)
    "desk.continue_cursor": ("Continue from the cursor", "从光标处续写"),
    "desk.stop": ("Stop", "停止"),
    "desk.alternatives": ("Token alternatives", "逐词备选"),
    "desk.alt_section": ("Token alternatives: this run beside the base", "逐词备选：本训练与基座对照"),
    "desk.alt_tokens": ("The candidate's tokens (click one)", "候选的 token（点击其中一个）"),
    "desk.alt_position": ("Token position", "token 位置"),
    "desk.alt_show": ("Show alternatives", "显示备选"),
    "desk.alt_choice": ("Pick a token (this run % · base %)", "选择一个 token（本训练 % · 基座 %）"),
    "desk.alt_redraft": ("Redraft from here", "从这里重写"),
    "desk.summary_section": ("Summarize into memory, style match", "摘要写入记忆、风格接近度"),
    "desk.summary_model": ("Summarize with", "用哪个模型摘要"),
    "desk.summarize": ("Summarize the manuscript", "摘要稿件"),
    "desk.to_memory": ("Put into memory", "放进记忆"),
    "desk.summary": ("Summary (edit it before it goes into memory)", "摘要（放进记忆前可以修改）"),
    "desk.style": ("Style match of the drafted passages", "模型所写段落的风格接近度"),
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
    "runs.export_help": ("The adapter as a zip (for PEFT); merged into the base as a safetensors model folder that "
                         "plain transformers loads; or merged and written as one GGUF file for llama.cpp, Ollama and "
                         "LM Studio (f16 or bf16 keep every digit; q8_0 is about half the size). The merged exports "
                         "carry an Ollama `Modelfile`.",
                         "可导出适配器 zip（供 PEFT 使用）；或把适配器合并进基座模型，得到普通 transformers 即可加载的 "
                         "safetensors 模型文件夹；或合并后写成一个 GGUF 文件，供 llama.cpp、Ollama 和 LM Studio 使用"
                         "（f16、bf16 保留全部精度；q8_0 体积约减半）。合并导出都附带 Ollama `Modelfile`。"),
    "runs.gguf_type": ("GGUF type", "GGUF 类型"),
    "train.continue_from": ("Continue from", "接着训练"),
    "train.continue_from_help": ("Keep training a finished run's adapter on this corpus (e.g. a new version with more "
                                 "chapters); — starts a fresh adapter. The evaluation then compares base, parent and "
                                 "this run on both corpora's held-out text.",
                                 "在本语料（例如加了新章节的新版本）上接着训练一个已完成任务的适配器；选 — 则从新的适配器开始。"
                                 "评测会在新旧两份留出文本上比较基座、上一代和本任务。"),
    "requests.title": ("Make requests for my passages", "为我的段落生成要求"),
    "requests.help": ("A model that follows requests in your voice needs requests. For each passage of a text corpus, "
                      "a model (the base, another model by name, or one of your tuned runs) writes the short request "
                      "the passage answers; look them over, drop the bad ones by number, and save: the corpus gets a "
                      "new pairs version of (request, your passage). Your passages are copied unchanged; only the "
                      "requests are generated, and the manifest says so. Stop keeps what was made. The embedded 135M "
                      "model mostly writes requests that miss the passage: use an instruct model of 1.5B or more "
                      "(a GPU makes it seconds per passage).",
                      "想让模型按要求、用你的文风写作，就需要“要求”。模型（基座、按名称指定的其他模型，或你微调过的任务）"
                      "为 text 语料的每个段落写出它所回应的简短要求；检查后按编号删掉不好的，再保存：语料会多出一个"
                      "由（要求，你的段落）组成的 pairs 新版本。你的段落原样复制，只有要求是生成的，清单里也会注明。"
                      "中途停止不会丢失已生成的要求。内置的 135M 模型写出的要求大多不贴合段落：请用 1.5B 及以上的 "
                      "instruct 模型（有 GPU 时每段只需几秒）。"),
    "requests.source": ("Written by", "由谁来写"),
    "requests.source_help": ("base = the model named beside; or a tuned run", "base = 右侧填写的模型；或某个微调任务"),
    "requests.limit": ("Passages this time", "本次段落数"),
    "requests.limit_help": ("0 = every passage without a request", "0 = 所有还没有要求的段落"),
    "requests.make": ("Make requests", "生成要求"),
    "requests.stop": ("Stop", "停止"),
    "requests.drop": ("Drop items", "删除条目"),
    "requests.drop_help": ("Numbers from the # column, e.g. 3, 7, 10-12", "填写 # 列中的编号，例如 3, 7, 10-12"),
    "requests.save": ("Save as a pairs version", "保存为 pairs 版本"),
    "runs.blend": ("Blend voices", "融合文风"),
    "runs.blend_help": ("Combine the adapters of 2 or 3 finished runs of one base model into a new run, with a weight "
                        "for each (PEFT's adapter combinations: linear averages, cat keeps every update exactly, svd and "
                        "the ties/dare/magnitude-prune methods trim and re-factorise). The blend drafts, exports and "
                        "publishes like any run.",
                        "把同一基座模型的 2 到 3 个已完成任务的适配器按各自权重融合成一个新任务（PEFT 的适配器组合："
                        "linear 取加权平均，cat 完整保留每个更新，svd 以及 ties/dare/magnitude-prune 方法会修剪并重新分解）。"
                        "融合结果可以像其他任务一样起草、导出和发布。"),
    "runs.blend_pick": ("Runs to blend", "要融合的任务"),
    "runs.blend_weights": ("Weights", "权重"),
    "runs.blend_weights_help": ("One per run, in order, e.g. 0.5, 0.5", "按顺序每个任务一个，例如 0.5, 0.5"),
    "runs.blend_method": ("Method", "方法"),
    "runs.blend_start": ("Blend", "融合"),
    "runs.export_gguf": ("Export GGUF", "导出 GGUF"),
    "runs.export_zip": ("Export adapter (zip)", "导出适配器（zip）"),
    "runs.export_merged": ("Export merged model", "导出合并后的模型"),
    "runs.export_file": ("Adapter zip", "适配器 zip"),
    # models
    "models.help": ("Base models the studio knows (presets/models.yaml). Cached models work offline; the memory "
                    "columns are the weights alone, and training adds the adapter, activations and logits (the Train "
                    "tab estimates those).",
                    "工作室已登记的基座模型（presets/models.yaml）。已缓存的模型可离线使用；内存一栏只计模型权重，"
                    "训练时还要加上适配器、激活值和 logits（训练页会给出估算）。"),
    "models.download_pick": ("Hub model to download", "要下载的 hub 模型"),
    "models.download_pick_help": ("A name from the table or any hub id (org/name). It goes into the local hub cache, "
                                  "where training and drafting find it offline.",
                                  "表中的名称，或任意 hub id（org/name）。下载到本地 hub 缓存，之后训练和写作离线也能找到。"),
    "models.size": ("Size first", "先看大小"),
    "models.download": ("Download", "下载"),
}

# Settings: every field of TrainConfig and CorpusConfig, as (label, help) in Chinese. The English
# label is the field's name and the English help is the field's own help in studio/config.py.
SETTINGS_ZH: dict[str, tuple[str, str]] = {
    "train.model": ("基座模型", "基座模型：presets/models.yaml 里的名称、Hugging Face 模型 id，或本地文件夹。"),
    "train.objective": ("训练目标", "sft = 学习语料（预测下一个词）；dpo = 从作者的盲选结果（偏好对）中学习，以 init_adapter 为起点；blend = 把 blend_of 中的适配器融合成一个（不训练）。"),
    "train.init_adapter": ("起始适配器", "训练从哪个任务（或 任务@step-N 检查点）的适配器开始。sft：在本语料上接着训练它（持续学习；适配器的秩和层沿用上一代）；dpo：它的一份冻结副本作为参照。"),
    "train.bias_probe": ("偏见探测", "训练结束后，在 assets/bias 中的反事实句对（中英文）上分别用基座和微调后的模型打分：各自更偏向刻板印象那一句的比例。"),
    "train.blend_of": ("融合来源", "blend：要融合的任务及权重，写成 “任务甲:0.5, 任务乙:0.5”（同一基座模型的 2 到 3 个任务）。"),
    "train.blend_method": ("融合方法", "blend：PEFT 的融合方法。linear、ties、dare_* 和 magnitude_prune 要求各适配器的秩相同；cat 把各秩拼接；*_svd 对加权和重新做低秩分解。"),
    "train.blend_density": ("保留比例", "blend（ties、dare_*、magnitude_prune）：每个适配器保留的权重比例。"),
    "train.dpo_beta": ("DPO beta", "dpo：微调后的模型可以偏离参照模型多远（越大越贴近参照）。"),
    "train.corpus": ("语料", "语料名称（data/corpora/<名称>）。"),
    "train.corpus_version": ("语料版本", "语料版本，如 v2；留空表示最新版本。"),
    "train.seq_len": ("序列长度", "每个训练块的 token 数（拼接时），或不拼接时每条样本的截断长度。"),
    "train.packing": ("拼接样本", "把多篇文档首尾相接、填满训练块（不在填充上浪费算力，每篇文档只关注自身）；关闭则每条样本单独成块并补齐。"),
    "train.completion_only": ("只学回答", "pairs 与 chat：只在回答部分计算损失（提示部分不计）。text 模式始终对全部 token 计算。"),
    "train.chat_template": ("对话模板", "pairs 与 chat 的排版方式：分词器自带的对话模板、chatml，或纯文本的 “User:/Assistant:”。"),
    "train.prompt_template": ("提示模板", "pairs 模式：用户这一轮的文字，{prompt} 处填入提示字段（如 “请总结：\n\n{prompt}”）。"),
    "train.lora_r": ("LoRA 秩", "LoRA 的秩：适配器的容量。"),
    "train.lora_alpha": ("LoRA alpha", "LoRA alpha：适配器更新的缩放（alpha / 秩）。"),
    "train.lora_dropout": ("LoRA dropout", "LoRA 支路上的 dropout 比例。"),
    "train.target_modules": ("目标层", "加适配器的层：all-linear（全部线性层），或用逗号分隔的模块名。"),
    "train.use_rslora": ("rsLoRA", "秩稳定的 LoRA：按 alpha / sqrt(秩) 缩放，秩较高时也能学得动。"),
    "train.use_dora": ("DoRA", "DoRA：把每个权重的大小和方向分开学习（每步更慢，有时效果更好）。"),
    "train.quantization": ("量化", "基座权重：nf4 或 fp4 = 4-bit QLoRA（bitsandbytes）；int8 = 8-bit；none = 16/32 位 LoRA；auto = GPU 上用 nf4；CPU 上用本机实测最快且损失不变差的方式（python -m studio calibrate；首次测量前，fp32 权重不超过内存四分之一时不量化，否则用 nf4）。"),
    "train.double_quant": ("双重量化", "4-bit：把量化常数也量化一次（每个权重约省 0.4 bit）。"),
    "train.compute_dtype": ("计算精度", "矩阵乘法的数据类型：auto = 支持 bf16 的 GPU 用 bf16（否则 fp16）；CPU 上若本机实测 bf16 更快且损失不变差就用 bf16，否则用 fp32。"),
    "train.fused_loss": ("融合损失", "直接从隐藏状态、按块计算目标 token 的交叉熵，从不生成完整的 logits（更省内存，也更快）；关闭则用模型自带的损失。"),
    "train.gradient_checkpointing": ("梯度检查点", "反向传播时重新计算激活值：显存占用大幅下降，速度约慢 30%。"),
    "train.shard": ("分片训练（FSDP）", "多个进程（--nproc N，或多台机器）时：把基座、适配器和优化器状态切分到各进程（FSDP2），而不是每个进程各存一整份，用于一块 GPU 放不下的模型；4-bit 权重改以计算精度存放，以便切分。仅限 sft。"),
    "train.learning_rate": ("学习率", "学习率峰值。"),
    "train.lr_scheduler": ("学习率调度", "预热之后学习率的变化方式。"),
    "train.warmup_ratio": ("预热比例", "学习率从零升到峰值所用步数占总步数的比例。"),
    "train.epochs": ("轮数", "遍历训练集的次数（max_steps > 0 或设置了时间预算时不起作用）。"),
    "train.max_steps": ("最大步数", "优化器更新的步数；0 表示按轮数推算。"),
    "train.time_budget_min": ("时间预算（分钟）", "这次训练在本机上可用的分钟数，含评测；0 或留空 = 不设预算。工作室按本机对这个模型和这些设置"
                              "实测的训练速度把分钟换算成优化器步数，让预热和学习率调度覆盖整个预算并降到零；此时忽略轮数，"
                              "max_steps > 0 时它是步数上限。"),
    "train.batch_size": ("批大小", "每个微批次的训练块数（GPU 显存不足时自动减半）。"),
    "train.grad_accum": ("梯度累积", "每次优化器更新累积的微批次数。"),
    "train.weight_decay": ("权重衰减", "适配器权重上的 AdamW 权重衰减。"),
    "train.max_grad_norm": ("梯度裁剪", "梯度裁剪的范数上限；0 表示不裁剪。"),
    "train.seed": ("随机种子", "打乱顺序、LoRA 初始化和 dropout 所用的随机种子。"),
    "train.eval_every": ("验证间隔", "每 N 步算一次验证损失；0 表示只在训练前后各算一次。"),
    "train.early_stopping_patience": ("早停耐心", "连续这么多次验证没有改善就停止（需设置验证间隔）；0 = 关闭。保留最好的适配器。"),
    "train.early_stopping_min_delta": ("早停最小改善", "验证损失的改善小于这个值不算改善。"),
    "train.save_every": ("保存间隔", "每 N 步保存一个可续训的检查点；0 = 只在取消时保存。"),
    "train.keep_last": ("保留检查点数", "只保留最新的这么多个检查点，更早的会删除。"),
    "train.eval_examples": ("评测样本数", "pairs 模式：在最多这么多条留出样本上计算基座和微调模型的 ROUGE 与 BLEU；0 = 关闭。"),
    "train.eval_max_new_tokens": ("评测生成长度", "计算 ROUGE 与 BLEU 时每条样本生成的 token 数，也是风格匹配时每个开头续写的 token 数。"),
    "train.style_openings": ("风格匹配开头数", "文本语料：训练后，基座与微调模型用同一随机种子续写这么多个留出的开头，再用 Burrows' Delta 比较每篇续写与作者留出文本的风格距离；0 = 关闭。"),
    "train.device": ("设备", "auto：有 CUDA 就用 GPU，否则用 CPU。"),
    "corpus.name": ("语料名称", "语料名称：字母、数字、“-”、“_” 和 “.”。"),
    "corpus.mode": ("类型", "text：学习文风的散文；pairs：提示 → 回答（如 原文 → 摘要）；chat：消息列表。"),
    "corpus.text_field": ("正文字段", "存放正文的列/字段（text 模式）；留空则自动识别 text、content、body 等。"),
    "corpus.prompt_field": ("提示字段", "存放提示的字段（pairs 模式）；留空则自动识别 prompt、instruction、document 等。"),
    "corpus.response_field": ("回答字段", "存放回答的字段（pairs 模式）；留空则自动识别 response、output、summary 等。"),
    "corpus.messages_field": ("消息字段", "存放消息列表的字段（chat 模式）；留空则自动识别 messages、conversations。"),
    "corpus.min_valid_share": ("最低有效比例", "具备该类型所需字段的行数低于这个比例时，拒收整份语料。"),
    "corpus.nfc": ("NFC 规范化", "Unicode NFC 规范化（每个带声调的字母只占一个码位）。"),
    "corpus.join_lines": ("合并断行", "把段落内部的硬换行接起来（中日韩文字之间不加空格）。"),
    "corpus.strip_markup": ("去除标记", "去掉正文里夹带的 HTML 标签。"),
    "corpus.strip_page_furniture": ("去除页眉页脚", "去掉 PDF 里重复出现的页眉、页脚和页码。"),
    "corpus.mask_pii": ("隐去个人信息", "把电子邮箱和电话号码替换为 [email] 和 [phone]。"),
    "corpus.min_chars": ("最少字符数", "清洗后短于这个长度的条目会被丢弃。"),
    "corpus.max_chars": ("最多字符数", "长文切分之后仍长于这个长度的条目会被丢弃。"),
    "corpus.chunk_chars": ("切分长度", "text 模式：在段落处把长文档切成大约这么长的片段；0 = 不切分。"),
    "corpus.dedupe_exact": ("精确去重", "丢弃完全重复的条目（忽略大小写和空白）。"),
    "corpus.near_dup_threshold": ("近似去重阈值", "相似度（MinHash Jaccard）达到这个值即视为近似重复并丢弃；0 = 关闭。"),
    "corpus.val_share": ("验证集比例", "按词元计，留作验证集的比例（最多 0.2）：文档够多时留出整篇文档，否则留出每篇文档的结尾。"),
    "corpus.seed": ("划分种子", "划分训练集和验证集所用的随机种子。"),
    "corpus.exact_tokens": ("精确计数", "超过 16 MB 的语料也逐条精确统计 token（那时约慢一倍）；关闭则只统计 16 MB 样本，其余按字符数估算。"),
}


def _settings_strings() -> dict[str, tuple[str, str]]:
    """The settings' keys: `setting.train.seq_len` is the label, `setting.train.seq_len.help` the help."""
    strings = {}
    for prefix, cls in (("train", TrainConfig), ("corpus", CorpusConfig)):
        for f in dataclasses.fields(cls):
            label, help_zh = SETTINGS_ZH[f"{prefix}.{f.name}"]
            strings[f"setting.{prefix}.{f.name}"] = (f.name.replace("_", " "), label)
            strings[f"setting.{prefix}.{f.name}.help"] = (f.metadata["help"], help_zh)
    return strings


STRINGS.update(_settings_strings())

# the charts' axis and legend titles (their column names stay English: the data is shared)
STRINGS.update({
    "plot.step": ("step", "步数"),
    "plot.loss": ("loss", "损失"),
    "plot.lr": ("learning rate", "学习率"),
    "plot.series": ("series", "曲线"),
    "plot.length": ("length (tokens)", "长度（token）"),
    "plot.items": ("items", "条数"),
})

# Gradio's own keys that its frontend asks for but its tables lack (6.31: `common.upload` and
# `common.complete` have no text in any language, `common.runs_description` none in Chinese): the
# page would show the raw key. Our tables are merged into gradio's, so these fill the gaps.
STRINGS.update({
    "common.upload": ("Upload", "上传"),
    "common.complete": ("Complete", "完成"),
    "common.runs": ("Runs", "运行记录"),
    "common.runs_description": ("View runs saved in this browser", "查看保存在本浏览器中的运行记录"),
    # What gradio announces to a screen reader while an event waits in the queue: its tables have
    # it in English only, so a Chinese page heard "In queue: 1 of 2". Gradio fills the braces.
    "status.queue_position": ("In queue: {position} of {size}", "排队中：第 {position} 位，共 {size} 位"),
})

# Accessible names and titles gradio 6.31 writes in English with no translation key (its frontend
# has them as plain text): the page puts them in its language with a small script (launch's `js`,
# the only hook gradio offers for them), and back in English when the visitor switches to English.
GRADIO_FIXED_ZH = {
    "Click to upload or drop files": "点击上传或拖放文件",
    "Gradio footer navigation": "Gradio 页脚导航",
    "Copy table data": "复制表格数据",
    "Copied to clipboard": "已复制到剪贴板",
    "Copy": "复制",  # a Markdown code block's and a textbox's copy button
    "Copied": "已复制",
    "Copied!": "已复制！",
    "Reset to default value": "恢复默认值",  # a slider's reset button
    "Empty value": "暂无内容",  # an output with nothing in it yet
    "Fullscreen": "全屏",
    "Exit fullscreen mode": "退出全屏",
    "Dataframe": "数据表",
    "Table actions": "表格操作",
    "Open cell menu": "打开单元格菜单",
    "File upload": "上传文件",
    "More tabs": "更多标签页",
    "Download": "下载",
    "Clear": "清除",
    "Close": "关闭",
    "Language": "语言",  # the Settings panel's language picker
}
# ... and those gradio writes as English words before a component's (translated) label
GRADIO_PREFIXED_ZH = {
    "number input for ": "数字输入框：",
    "range slider for ": "滑块：",
}
# The language a visitor picked in gradio's Settings panel. Gradio 6.31 keeps it for the open page
# only: a reload starts again from the browser's language, and the server never hears of it. The
# page keeps it in this cookie (fixed_labels_script): the server writes its text in it
# (request_lang), and the next page opens in it (PICKED_LANGUAGE_SCRIPT).
LANG_COOKIE = "writing-studio-lang"
# Put first in the page's <head> (studio/ui/app.py's OpenInPickedLanguage), before gradio's own
# scripts: gradio sets its language once, from the browser's, as it starts. Set after the page has
# drawn, its tabs keep the labels of the first language (gradio re-labels only the open tab).
PICKED_LANGUAGE_SCRIPT = ("<script>(() => { const m = document.cookie.match(/(?:^|;\\s*)" + LANG_COOKIE
                          + "=([^;]+)/); if (!m) return; const lang = decodeURIComponent(m[1]);"
                          " Object.defineProperty(navigator, 'language', {get: () => lang, configurable: true});"
                          " Object.defineProperty(navigator, 'languages', {get: () => [lang], configurable: true});"
                          " })();</script>")


def request_lang(request: gr.Request | None, forced: str | None = None) -> str:
    """The language of text a handler builds: `--lang` when the owner fixed one, else the language
    the visitor picked in gradio's Settings panel (LANG_COOKIE), else the browser's language (its
    first Accept-Language choice, which is also what gradio's labels follow until a pick)."""
    if forced:
        return forced
    headers = request.headers if request is not None else {}
    # read by hand: http.cookies gives up on the whole header at one cookie it finds malformed
    cookies = (c.partition("=") for c in headers.get("cookie", "").split(";"))
    picked = next((value for name, _, value in cookies if name.strip() == LANG_COOKIE), "")
    first = picked or headers.get("accept-language", "").split(",")[0]
    return "zh" if first.strip().lower().startswith("zh") else "en"


def translations(lang: str | None = None) -> gr.I18n:
    """The tables for gradio; with `lang`, that language for every browser locale."""
    tables = {code: {key: pair[n] for key, pair in STRINGS.items()} for n, code in enumerate(LANGUAGES)}
    if lang:
        forced = tables[lang]
        return gr.I18n(en=forced, zh=forced, **{"zh-CN": forced, "zh-TW": forced})
    return gr.I18n(**tables, **{"zh-CN": tables["zh"], "zh-TW": tables["zh"]})


PAGE_SCRIPT = """() => {
  const forced = __FORCED__, zh = __ZH__, prefixed = __PREFIXED__, key = __KEY__;
  const named = (value) => {
    if (Object.hasOwn(zh, value)) return zh[value];
    const prefix = Object.keys(prefixed).find((p) => value.startsWith(p));
    return prefix ? prefixed[prefix] + value.slice(prefix.length) : value;
  };
  // Chinese where the page is Chinese; back to gradio's English (kept in data-ws-*) where it is not
  const fix = () => {
    const toZh = (forced || document.documentElement.lang || navigator.language || '').toLowerCase().startsWith('zh');
    for (const el of document.querySelectorAll('[aria-label], [title]')) {
      for (const a of ['aria-label', 'title']) {
        const v = el.getAttribute(a), was = el.getAttribute('data-ws-' + a);
        if (!v) continue;
        if (toZh && named(v) !== v) {
          el.setAttribute('data-ws-' + a, v);
          el.setAttribute(a, named(v));
        } else if (!toZh && was !== null) {
          el.removeAttribute('data-ws-' + a);
          if (v === named(was)) el.setAttribute(a, was);
        }
      }
    }
  };
  // at most once a frame: a streaming draft changes the page many times a second, and each pass
  // reads every labelled element of the page
  let queued = false;
  const later = () => { if (!queued) { queued = true; requestAnimationFrame(() => { queued = false; fix(); }); } };
  fix();
  new MutationObserver(later).observe(document.body, {subtree: true, childList: true, attributes: true,
                                                      attributeFilter: ['aria-label', 'title']});
  if (forced) return;
  // gradio shows a Settings pick by setting <html lang>: kept for the server and the next visit
  new MutationObserver(() => {
    const lang = document.documentElement.lang;
    if (lang) document.cookie = key + '=' + encodeURIComponent(lang) + '; path=/; max-age=31536000; SameSite=Lax';
    later();
  }).observe(document.documentElement, {attributes: true, attributeFilter: ['lang']});
}"""


def fixed_labels_script(lang: str | None = None) -> str:
    """JavaScript for launch(js=...): the English accessible names gradio writes without a key
    (GRADIO_FIXED_ZH, GRADIO_PREFIXED_ZH) read in the page's language as they appear, and follow
    it when the visitor picks another in gradio's Settings panel; that pick is kept in LANG_COOKIE
    (PICKED_LANGUAGE_SCRIPT opens the next page in it). With `--lang`, the page's language is that
    one and no pick is kept."""
    script = PAGE_SCRIPT
    for name, value in (("__FORCED__", lang or None), ("__ZH__", GRADIO_FIXED_ZH),
                        ("__PREFIXED__", GRADIO_PREFIXED_ZH), ("__KEY__", LANG_COOKIE)):
        script = script.replace(name, json.dumps(value, ensure_ascii=False))
    return script


_I18N = translations()


def text(key: str, lang: str) -> str:
    """The interface text of `key` in `lang`, as a plain string, for a prop gradio does not translate."""
    return STRINGS[key][LANGUAGES.index(lang)]


def T(key: str):
    """The translatable text of `key`; an unknown key fails when the UI is built, not in a browser."""
    if key not in STRINGS:
        raise KeyError(f"no interface text '{key}' in studio/ui/i18n.py")
    return _I18N(key)

# the desk's story bible and phrases to avoid (studio/ui/desk_story.py)
STRINGS.update({
    "bible.section": ("Story bible", "故事设定集"),
    "bible.help": ("One row an entry: when one of its keys (names, words, aliases; `/regex/i` for a pattern) appears "
                   "in the text near the draft point, its text goes into what the model sees. Chinese keys match "
                   "inside running text. Always-on entries go in every time. Position: after_memory, before_note or "
                   "depth (paragraphs from the end). Higher order is kept first when the budget is short. Save bible "
                   "keeps the table (Undo takes it back).",
                   "每行一个条目：当它的某个关键词（人名、词语、别称；用 `/正则/i` 写模式）出现在续写点附近的文字中，"
                   "它的内容就会进入模型所见。中文关键词在连续文字中也能匹配。始终启用的条目每次都会载入。位置："
                   "after_memory（记忆之后）、before_note（作者注之前）或 depth（距结尾若干段）。预算不足时优先级高的先保留。"
                   "“保存设定集”保存表格（撤销可以收回）。"),
    "bible.col_enabled": ("on", "启用"),
    "bible.col_name": ("name", "名称"),
    "bible.col_keys": ("keys (comma-separated)", "关键词（逗号分隔）"),
    "bible.col_secondary": ("secondary keys", "次要关键词"),
    "bible.col_logic": ("logic", "逻辑"),
    "bible.col_text": ("text the model reads", "模型读到的内容"),
    "bible.col_constant": ("always on", "始终启用"),
    "bible.col_position": ("position", "位置"),
    "bible.col_depth": ("depth", "深度"),
    "bible.col_order": ("order", "优先级"),
    "bible.scan_chars": ("Characters searched for keys", "搜索关键词的字符数"),
    "bible.budget_share": ("Share of the context for entries", "条目可占上下文的比例"),
    "bible.budget_cap": ("Most tokens for entries", "条目最多词元数"),
    "bible.recursion_steps": ("Recursion steps", "递归层数"),
    "bible.save": ("Save bible", "保存设定集"),
    "bible.share": ("Use the bible of", "使用其设定集的稿件"),
    "bible.share_btn": ("Share", "共享"),
    "bible.import": ("Import a lorebook (SillyTavern, NovelAI, Kobold Lite)", "导入设定（SillyTavern、NovelAI、Kobold Lite）"),
    "bible.export": ("Export (SillyTavern JSON)", "导出（SillyTavern JSON）"),
    "bible.export_file": ("Exported bible", "导出的设定集"),
    "banned.section": ("Phrases to avoid", "禁用短语"),
    "banned.manuscript": ("This manuscript's phrases (one a line)", "本稿件的禁用短语（每行一条）"),
    "banned.help": ("Drafting never writes these: where one begins, it goes back and chooses another word.",
                    "续写永远不会写出这些短语：一旦开头出现，就回退并另选词语。"),
    "banned.studio": ("Every manuscript's phrases (the studio's)", "所有稿件的禁用短语（全局）"),
    "banned.save": ("Save phrases", "保存禁用短语"),
    "banned.suggest": ("Suggest from Tuned pane 1", "根据微调栏 1 给出建议"),
    "banned.suggestions": ("Phrases the run overuses", "该训练过度使用的短语"),
    "banned.ban_ticked": ("Ban the ticked", "禁用勾选的短语"),
})

# the desk's drafting mode (studio/ui/desk.py)
STRINGS.update({
    "desk.mode": ("Drafts", "续写方式"),
    "desk.mode_inline": ("Into the text", "写进正文"),
    "desk.mode_candidates": ("Side by side", "并排候选"),
    "desk.mode_help": ("Into the text: one pane's draft streams into the manuscript (Retry replaces it, Undo takes it "
                       "out). Side by side: each pane's candidates in boxes, one used with a click (also when several "
                       "panes or drafts are set).",
                       "写进正文：单栏的续写直接流入稿件（重试替换，撤销取出）。并排候选：每栏的候选显示在框中，点击采用"
                       "（设置了多个栏位或多份草稿时也用这种方式）。"),
})

STRINGS.update({
    "bible.draft": ("Draft entries (model in Summarize with)", "起草条目（使用“摘要模型”）"),
})
