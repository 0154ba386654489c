"""Child-process entry: `python -m studio.corpus.extract KIND PATH` prints the text as JSON.

Run only through bounded.extract, which limits its time and memory."""
from __future__ import annotations

import json
import sys


def pdf_pages(path: str) -> dict:
    from pypdf import PdfReader

    reader = PdfReader(path)
    if reader.is_encrypted:
        try:
            opened = reader.decrypt("")  # an empty user password opens many "protected" PDFs
        except Exception:
            opened = False
        if not opened:  # pypdf answers PasswordType.NOT_DECRYPTED (0) rather than raising
            raise SystemExit("corpus.pdf_password")  # a key: bounded.extract words it in the reader's language
    return {"pages": [page.extract_text() or "" for page in reader.pages]}


def docx_documents(path: str) -> dict:
    import docx

    document = docx.Document(path)
    parts = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            parts.append(" | ".join(cell.text for cell in row.cells))
    return {"documents": ["\n\n".join(p for p in parts if p.strip())]}


def epub_documents(path: str) -> dict:
    import ebooklib
    from ebooklib import epub

    from studio.corpus.readers import html_to_text

    book = epub.read_epub(path, options={"ignore_ncx": True})
    chapters = []
    for item_id, _ in book.spine:
        item = book.get_item_with_id(item_id)
        if item is not None and item.get_type() == ebooklib.ITEM_DOCUMENT:
            chapters.append(html_to_text(item.get_content().decode("utf-8", "replace")).strip())
    return {"documents": [c for c in chapters if c]}


if __name__ == "__main__":
    kind, file_path = sys.argv[1], sys.argv[2]
    readers = {"pdf": pdf_pages, "docx": docx_documents, "epub": epub_documents}
    json.dump(readers[kind](file_path), sys.stdout, ensure_ascii=False)
