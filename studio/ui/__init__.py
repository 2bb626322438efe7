"""The Gradio UI: the only package that imports gradio. Tabs live in studio.ui.tabs."""
