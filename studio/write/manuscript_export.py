"""A manuscript out of the studio: Markdown, plain text or .docx (python-docx), optionally with an
appendix listing each passage's source, in the reader's language (studio/messages.py)."""
from __future__ import annotations

import re
from pathlib import Path

from studio.messages import say
from studio.paths import exports_dir
from studio.write.manuscript import BASE, WRITER, Manuscript, ManuscriptError, Passage

FORMATS = ("md", "txt", "docx")
EXCERPT_CHARS = 60
NOT_IN_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")  # .docx cannot hold these


def source_text(p: Passage, lang: str) -> str:
    """'the writer', 'the base model' or 'run RUN@step-N', with the seed and settings, edits and copies."""
    if p.source == WRITER:
        label = say(lang, "manuscript.source_writer")
    elif p.source == BASE:
        label = say(lang, "manuscript.source_base")
    else:
        label = say(lang, "manuscript.source_run", run=p.source)
    extra = []
    if p.settings:
        s = p.settings
        extra.append(say(lang, "manuscript.settings", seed=s.get("seed"), temperature=s.get("temperature"),
                         top_p=s.get("top_p")))
    if p.edited:
        extra.append(say(lang, "manuscript.edited"))
    if p.copied:
        extra.append(say(lang, "manuscript.copied", share=p.copied))
    return label + (f" ({'; '.join(extra)})" if extra else "")


def appendix(ms: Manuscript, lang: str) -> list[tuple[str, str]]:
    """(passage label, source) per non-empty passage, with the passage's opening words."""
    rows = []
    for n, p in enumerate((p for p in ms.passages if p.text.strip()), 1):
        opening = " ".join(p.text.split())[:EXCERPT_CHARS]
        rows.append((f"{say(lang, 'manuscript.passage', n=n)}: “{opening}…”", source_text(p, lang)))
    return rows


def as_markdown(ms: Manuscript, sources: bool, lang: str) -> str:
    title = ms.title or say(lang, "manuscript.untitled")
    out = f"# {title}\n\n{ms.text.rstrip()}\n"
    if sources:
        out += f"\n## {say(lang, 'manuscript.sources')}\n\n" + "".join(f"- {a} — {b}\n" for a, b in appendix(ms, lang))
    return out


def as_text(ms: Manuscript, sources: bool, lang: str) -> str:
    title = ms.title or say(lang, "manuscript.untitled")
    out = f"{title}\n\n{ms.text.rstrip()}\n"
    if sources:
        heading = say(lang, "manuscript.sources")
        out += f"\n{heading}\n\n" + "".join(f"{a} — {b}\n" for a, b in appendix(ms, lang))
    return out


def write_docx(ms: Manuscript, path: Path, sources: bool, lang: str) -> None:
    from docx import Document
    from docx.oxml.ns import qn

    doc = Document()
    style = doc.styles["Normal"]
    style.element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), "SimSun")  # Chinese in Word's CJK font
    doc.add_heading(NOT_IN_XML.sub("", ms.title or say(lang, "manuscript.untitled")), level=1)
    for line in ms.text.splitlines():
        if line.strip():  # a control character a model drafted (or a paste) is left out, not an error
            doc.add_paragraph(NOT_IN_XML.sub("", line))
    if sources:
        doc.add_heading(say(lang, "manuscript.sources"), level=2)
        for a, b in appendix(ms, lang):
            doc.add_paragraph(NOT_IN_XML.sub("", f"{a} — {b}"), style="List Bullet")
    doc.save(str(path))


def export(root: Path, ms: Manuscript, fmt: str, sources: bool = False, lang: str = "en") -> Path:
    """`<data>/exports/manuscript-<id>.<fmt>` (with `-sources` when the appendix is in)."""
    if fmt not in FORMATS:
        raise ManuscriptError("manuscript.format", fmt=fmt)
    path = exports_dir(root) / f"manuscript-{ms.id}{'-sources' if sources else ''}.{fmt}"
    if fmt == "docx":
        write_docx(ms, path, sources, lang)
    else:
        path.write_text((as_markdown if fmt == "md" else as_text)(ms, sources, lang), encoding="utf-8")
    return path
