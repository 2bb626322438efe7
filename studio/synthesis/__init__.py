"""Prompt and instruction synthesis: templates, attribute sampling, LLM composition, batches, datasets."""
