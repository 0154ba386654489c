"""Draft the bible: a chosen model proposes entries for the characters and places of the manuscript
so far; the writer keeps, edits or discards each before it goes in.

The model (an instruct base through its chat template, or a run trained in summarize or pairs
mode, as for the summary into memory) is asked for one line a character or place:

    Name | other names, comma-separated | one sentence about them

The answer is read line by line: a line in that shape becomes a proposed entry (keys: the name
and the other names); anything else is left out. Proposals for a name the bible already holds are
left out too. Nothing is saved here: the desk shows the proposals as rows of its table, and Save
bible keeps what the writer left there.
"""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from studio.config import GenConfig
from studio.write import manuscript_store as store

ASK = {"en": ("Here is a story so far:\n\n{text}\n\nList its characters and places, one a line, in this form:\n"
              "Name | other names, comma-separated | one sentence about them\nWrite nothing else."),
       "zh": ("下面是一篇故事的已写部分：\n\n{text}\n\n请列出其中的人物和地点，每行一个，格式如下：\n"
              "名称 | 其他称呼，用逗号分隔 | 一句话介绍\n不要写别的内容。")}
MOST = 30  # proposals read from one answer
_CJK = re.compile(r"[\u3400-\u9fff]")
_BULLET = re.compile(r"^\s*(?:[-*•·]|\d+[.)、]|[（(]?\d+[)）])\s*")


def proposals(answer: str, existing: set[str] = frozenset()) -> list[dict]:
    """Entries (dicts for bible.check_entry) from the model's answer; lines not in the asked shape,
    and names already in the bible, are left out."""
    out, seen = [], {n.casefold() for n in existing}
    for line in answer.splitlines():
        cells = [c.strip() for c in _BULLET.sub("", line).split("|")]
        if len(cells) < 3 or not cells[0] or not cells[2]:
            continue
        name = cells[0].strip("*_ ")
        if not name or len(name) > 60 or name.casefold() in seen:
            continue
        others = [k.strip() for k in re.split(r"[,，、;；]", cells[1]) if k.strip() and len(k.strip()) <= 60]
        seen.add(name.casefold())
        out.append({"name": name, "keys": list(dict.fromkeys([name, *others])), "text": cells[2]})
        if len(out) >= MOST:
            break
    return out


def draft_stream(root: Path, drafter, ms_id: str, source: str, gen: GenConfig, stop=None, model: str | None = None,
                 data: Path | None = None, existing: set[str] = frozenset()):
    """The model's answer as it grows ({"text", "done"}), the last item with the `proposals`."""
    from studio.write.desk import base_model
    from studio.write.summarize import summary_source

    ms = store.load(root, ms_id).ms
    text = summary_source(root, ms_id, source, gen, model, data)
    ask = ASK["zh" if len(_CJK.findall(ms.text[-2000:])) > 200 else "en"].format(text=text)
    gen = dataclasses.replace(gen, drafts=1)
    model = base_model(data or root, [source], model)
    for item in drafter.stream([source], ask, gen, "instruct", stop, model, save=False):
        if "panes" not in item:
            yield item
            continue
        answer = item["panes"][0]["drafts"][0]
        done = bool(item.get("done"))
        yield {"text": answer, "done": done, "source": source, **({"proposals": proposals(answer, existing)} if done else {})}
