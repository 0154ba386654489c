"""Corpus ingestion: decode, clean, dedupe, split, count, store. No torch or gradio here."""
