"""The browser UI. The only package that imports gradio; tabs call studio.service with plain values."""
