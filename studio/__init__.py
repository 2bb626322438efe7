"""Image Alignment Studio: the engine (no gradio here; the UI lives in studio.ui)."""
__version__ = "0.1.0"
