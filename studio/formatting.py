"""Corpus records to training examples: token ids and the labels the loss is taken on.

Text records train on every token. Pairs and chat are laid out as a conversation (the
tokenizer's chat template, ChatML, or plain "User:/Assistant:" text), so the tuned model answers
in the format it will be prompted with; with `completion_only` the loss is taken on the
assistant's turns only. The turns are found by character spans (each assistant turn lies
between the rendering of the conversation before it and the rendering that includes it) mapped
to tokens through the fast tokenizer's offsets, which works for any template that renders
conversations as growing prefixes.
"""
from __future__ import annotations

import logging

IGNORE = -100  # the label value the loss skips (torch cross-entropy's ignore_index)

log = logging.getLogger(__name__)

CHATML = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
          "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
PLAIN = ("{% for m in messages %}{{ m['role'] | capitalize }}: {{ m['content'] }}\n\n{% endfor %}"
         "{% if add_generation_prompt %}Assistant:{% endif %}")  # no trailing space: it belongs to the answer's first token


def as_messages(record: dict, prompt_template: str = "{prompt}") -> list[dict]:
    if "messages" in record:
        return record["messages"]
    return [{"role": "user", "content": prompt_template.replace("{prompt}", record["prompt"])},
            {"role": "assistant", "content": record["response"]}]


def template_for(tokenizer, name: str) -> str:
    """The Jinja chat template to use: the tokenizer's own (when it has one), ChatML, or plain."""
    if name == "tokenizer" and getattr(tokenizer, "chat_template", None):
        return tokenizer.chat_template
    return CHATML if name == "chatml" else PLAIN


def render(tokenizer, messages: list[dict], template: str, add_generation_prompt: bool = False) -> str:
    return tokenizer.apply_chat_template(messages, chat_template=template, tokenize=False,
                                         add_generation_prompt=add_generation_prompt)


def prompt_text(record: dict, tokenizer, chat_template: str = "tokenizer", prompt_template: str = "{prompt}") -> str:
    """What the model is given to write a response: the conversation up to the assistant's turn."""
    messages = as_messages(record, prompt_template)
    return render(tokenizer, messages[:-1], template_for(tokenizer, chat_template), add_generation_prompt=True)


def assistant_spans(tokenizer, messages: list[dict], template: str) -> tuple[str, list[tuple[int, int]]] | None:
    """The rendered conversation and the character spans of the assistant turns, or None when the
    template does not render conversations as growing prefixes."""
    full = render(tokenizer, messages, template)
    spans = []
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        before = render(tokenizer, messages[:i], template, add_generation_prompt=True) if i else ""
        upto = render(tokenizer, messages[:i + 1], template)
        if not (full.startswith(upto) and upto.startswith(before)):
            return None
        spans.append((len(before), len(upto)))
    return full, spans


def record_to_example(record: dict, tokenizer, chat_template: str = "tokenizer", completion_only: bool = True,
                      prompt_template: str = "{prompt}") -> tuple[list[int], list[int]]:
    """(input ids, labels) for one record; labels are IGNORE where no loss is taken."""
    if "text" in record:
        ids = tokenizer(record["text"], add_special_tokens=False)["input_ids"]
        return ids, list(ids)
    messages = as_messages(record, prompt_template)
    template = template_for(tokenizer, chat_template)
    found = assistant_spans(tokenizer, messages, template) if completion_only else None
    if found is None:
        if completion_only:
            log.warning("the chat template does not render turns as prefixes: training on all tokens")
        ids = tokenizer(render(tokenizer, messages, template), add_special_tokens=False)["input_ids"]
        return ids, list(ids)
    text, spans = found
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids = encoded["input_ids"]
    # a token is the assistant's when it overlaps a span (byte-level BPE glues the space before a word to it)
    labels = [tok if any(start < b and end > a for a, b in spans) else IGNORE
              for tok, (start, end) in zip(ids, encoded["offset_mapping"])]
    return ids, labels
