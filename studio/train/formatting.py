"""Corpus records to training text. Text records train as they are; pairs and chat go through the
tokenizer's chat template, so the tuned model answers in the format it will be prompted with."""
from __future__ import annotations


def as_messages(record: dict) -> list[dict]:
    if "messages" in record:
        return record["messages"]
    return [{"role": "user", "content": record["prompt"]}, {"role": "assistant", "content": record["response"]}]


def record_to_text(record: dict, tokenizer) -> str:
    if "text" in record:
        return record["text"]
    messages = as_messages(record)
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(messages, tokenize=False)
    # A base model without a chat template: a plain, readable layout.
    return "\n\n".join(f"{m['role'].capitalize()}: {m['content']}" for m in messages)
