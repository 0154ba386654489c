"""Writing Studio: bring a corpus, fine-tune a small writing model with 4-bit QLoRA, compare drafts."""
