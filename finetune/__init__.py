"""Fine-tuning: the training process (``python -m finetune.train CONFIG``), its run tracker and launcher.

Nothing here imports gradio; torch/diffusers/transformers are imported inside the functions that
train, so the studio can list and launch runs without loading them.
"""
