"""Drafting: base and tuned models side by side."""
