"""Studio overhead of the diffusers backend: the same tiny random SD pipeline called bare and through
``DiffusersText2Image`` (cache lookup, LoRA/scheduler bookkeeping, step callback, result packing), in the
same run, alternating. Prints per-run times, medians, minima (the least noisy on a shared machine) and the ratios (target: backend / bare <= 1.05).

    .venv/bin/python bench/engines_overhead.py [--runs 30] [--steps 4] [--size 64]
    .venv/bin/python bench/engines_overhead.py --preset sd15 --device cuda --steps 20 --size 512 --runs 10
"""
from __future__ import annotations

import argparse
import inspect
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def build_random_sd15(path: Path) -> Path:
    """Stable Diffusion 1.5's architecture (UNet, VAE, CLIP-L text encoder) with random weights, float16."""
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from tests.support.tiny_models import clip_tokenizer

    tokenizer = clip_tokenizer(77)
    unet = UNet2DConditionModel(cross_attention_dim=768, attention_head_dim=8, sample_size=64)
    vae = AutoencoderKL(block_out_channels=(128, 256, 512, 512), down_block_types=("DownEncoderBlock2D",) * 4,
                        up_block_types=("UpDecoderBlock2D",) * 4, latent_channels=4, layers_per_block=2,
                        sample_size=512)
    text = CLIPTextModel(CLIPTextConfig(vocab_size=len(tokenizer), hidden_size=768, intermediate_size=3072,
                                        num_hidden_layers=12, num_attention_heads=12, max_position_embeddings=77,
                                        bos_token_id=0, eos_token_id=1, pad_token_id=1))
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                              clip_sample=False, set_alpha_to_one=False, steps_offset=1)
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text, tokenizer=tokenizer, unet=unet, scheduler=scheduler,
                                   safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.to(torch.float16).save_pretrained(str(path))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--preset", choices=("tiny", "sd15"), default="tiny",
                        help="sd15: Stable Diffusion 1.5 sizes with random weights")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    import torch
    from diffusers import StableDiffusionPipeline

    from backends.base import GenerationRequest
    from backends.diffusers_engine import DiffusersText2Image
    from backends.model_cache import ModelCache
    from tests.support.tiny_models import build_tiny_sd

    if args.device == "cpu":
        torch.set_num_threads(1)
    dtype = torch.float16 if args.device.startswith("cuda") else torch.float32
    with tempfile.TemporaryDirectory() as tmp:
        path = build_tiny_sd(Path(tmp) / "sd") if args.preset == "tiny" else build_random_sd15(Path(tmp) / "sd15")
        bare = StableDiffusionPipeline.from_pretrained(str(path), local_files_only=True, dtype=dtype).to(args.device)
        bare.set_progress_bar_config(disable=True)
        backend = DiffusersText2Image("bench", model=str(path), cache=ModelCache(2**40), device=args.device,
                                      dtype=str(dtype).replace("torch.", ""))
        prompt = "a red cube"

        def run_bare() -> float:
            start = time.perf_counter()
            with torch.inference_mode():
                bare(prompt=prompt, width=args.size, height=args.size, num_inference_steps=args.steps,
                     generator=torch.Generator().manual_seed(0), output_type="pil",
                     callback_on_step_end=None)
            return time.perf_counter() - start

        def run_backend() -> float:
            start = time.perf_counter()
            backend.generate(GenerationRequest(prompt, width=args.size, height=args.size, steps=args.steps,
                                               seed=0, progress=lambda s, n: None))
            return time.perf_counter() - start

        run_bare(), run_backend()  # warm-up: first calls allocate and load
        bare_times, backend_times = [], []
        for i in range(args.runs):
            pair = (run_bare, run_backend) if i % 2 == 0 else (run_backend, run_bare)
            results = {fn.__name__: fn() for fn in pair}
            bare_times.append(results["run_bare"])
            backend_times.append(results["run_backend"])
            print(f"run {i + 1:2d}: bare {results['run_bare'] * 1000:7.1f} ms   "
                  f"backend {results['run_backend'] * 1000:7.1f} ms")
        # the backend's own bookkeeping, measured without the model: the pipeline call returns at once
        from types import SimpleNamespace

        from PIL import Image

        entry = backend.entry()
        real_pipe = entry.value
        canned = SimpleNamespace(images=[Image.new("RGB", (args.size, args.size))])

        class NoModel(type(real_pipe)):  # same signature, no compute
            def __call__(self, **kwargs):
                callback = kwargs.get("callback_on_step_end")
                for step in range(kwargs["num_inference_steps"]):  # the per-step hook still runs
                    callback(self, step, 0, {})
                return canned

        NoModel.__call__.__signature__ = inspect.signature(type(real_pipe).__call__)
        real_pipe.__class__ = NoModel
        book = []
        for _ in range(200):
            book.append(run_backend())
        real_pipe.__class__ = NoModel.__mro__[1]
    b, s = statistics.median(bare_times), statistics.median(backend_times)
    overhead = statistics.median(book)
    bmin, smin = min(bare_times), min(backend_times)
    device = torch.cuda.get_device_name() if args.device.startswith("cuda") else "CPU, 1 thread"
    print(f"{args.steps} steps, {args.size}x{args.size}, {args.preset} SD, {device}, {args.runs} alternating runs")
    print(f"bare:    median {b * 1000:.1f} ms   min {bmin * 1000:.1f} ms")
    print(f"backend: median {s * 1000:.1f} ms   min {smin * 1000:.1f} ms")
    print(f"ratio backend/bare: median {s / b:.3f}   min {smin / bmin:.3f}  (target <= 1.05)")
    print(f"backend bookkeeping alone (model stubbed, step hooks kept, 200 calls): median {overhead * 1000:.2f} ms "
          f"= {overhead / bmin * 100:.1f}% of the fastest bare call -> ratio {(bmin + overhead) / bmin:.3f}")


if __name__ == "__main__":
    main()
