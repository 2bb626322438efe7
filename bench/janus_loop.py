"""Janus-4o sampling loop: the three guidance conditions batched into one forward per token (shared KV
cache) against three separate forwards per token, same tiny random Janus model, same seed, same run.
Prints per-run times, tokens/s, the medians and the speed-up (target: >= 2x) and checks the tokens agree.

    .venv/bin/python bench/janus_loop.py [--runs 5] [--image-size 64]
    .venv/bin/python bench/janus_loop.py --preset pro-1b --device cuda   # Janus-Pro-1B sizes, random weights
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--image-size", type=int, default=64, help="tiny preset: 32 -> 16 tokens, 64 -> 64 tokens")
    parser.add_argument("--preset", choices=("tiny", "pro-1b"), default="tiny")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    import torch
    from PIL import Image
    from transformers import AutoImageProcessor, AutoTokenizer, JanusForConditionalGeneration

    from backends.janus_sampling import JanusGuidanceProcessor, JanusTokens, image_edit_inputs, sample_image_tokens
    from tests.support.tiny_janus import build_tiny_janus, janus_config, janus_tokenizer

    if args.device == "cpu":
        torch.set_num_threads(1)
    if args.preset == "tiny":
        with tempfile.TemporaryDirectory() as tmp:
            path = build_tiny_janus(Path(tmp) / "janus", image_size=args.image_size)
            model = JanusForConditionalGeneration.from_pretrained(str(path)).eval().to(args.device)
            tokenizer = AutoTokenizer.from_pretrained(str(path))
            processor = AutoImageProcessor.from_pretrained(str(path))
    else:  # real-size architecture with random weights, built in memory on the device
        from transformers import JanusImageProcessorPil

        tokenizer = janus_tokenizer()
        dtype = torch.bfloat16 if args.device.startswith("cuda") else torch.float32
        with torch.device(args.device):
            model = JanusForConditionalGeneration(janus_config(tokenizer, preset="pro-1b")).to(dtype).eval()
        processor = JanusImageProcessorPil(size={"height": 384, "width": 384}, image_mean=[0.5] * 3, image_std=[0.5] * 3)
    pixels = processor([Image.new("RGB", (80, 60), (30, 160, 220))], return_tensors="pt")["pixel_values"]
    embeds = image_edit_inputs(model, tokenizer, "turn it into a night scene", pixels, JanusTokens.of(tokenizer))
    guidance = JanusGuidanceProcessor(5.0, 5.0)
    n_tokens = model.config.vision_config.num_image_tokens

    def run(batched: bool, seed: int) -> tuple[float, torch.Tensor]:
        start = time.perf_counter()
        generator = torch.Generator(device=model.device).manual_seed(seed)
        tokens = sample_image_tokens(model, embeds, guidance, generator=generator, batched=batched)
        if model.device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start, tokens

    run(True, 0), run(False, 0)  # warm-up
    batched_t, separate_t, agree = [], [], 0
    for i in range(args.runs):
        tb, tok_b = run(True, i)
        ts, tok_s = run(False, i)
        batched_t.append(tb)
        separate_t.append(ts)
        agree += int(torch.equal(tok_b, tok_s))
        print(f"run {i + 1}: batched {tb * 1000:7.1f} ms ({n_tokens / tb:6.1f} tok/s)   "
              f"separate {ts * 1000:7.1f} ms ({n_tokens / ts:6.1f} tok/s)")
    b, s = statistics.median(batched_t), statistics.median(separate_t)
    prompt_len = embeds.shape[1]
    device = torch.cuda.get_device_name() if model.device.type == "cuda" else "CPU"
    print(f"{args.preset}: {n_tokens} image tokens per image, prompt {prompt_len} positions, 3 conditions, "
          f"{device} {str(model.dtype).replace('torch.', '')}")
    print(f"median batched {b * 1000:.1f} ms   median separate {s * 1000:.1f} ms")
    print(f"speed-up separate/batched = {s / b:.2f}x  (target >= 2x); identical tokens in {agree}/{args.runs} runs")


if __name__ == "__main__":
    main()
