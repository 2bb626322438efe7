"""Train the studio's small CPU base model ("tiny-shapes") on images from the procedural engine.

A Stable-Diffusion-shaped pipeline at toy size (32×32 pixels, 16×16×4 latents, a word-level CLIP
tokenizer, a frozen randomly initialised text encoder): first the VAE learns to reconstruct the
procedural images, then the UNet learns to denoise their latents given the prompt. Colours in
HELD_OUT (teal) are never shown, so the LoRA preset "CPU: teach the tiny model a new colour" has
something to teach; its dataset (teal shapes) is written next to the model.

    .venv/bin/python scripts/train_cpu_base_model.py [--out assets/models/tiny-shapes]
        [--vae-steps 600] [--unet-steps 2500] [--threads 2]

The same code runs on a GPU (``--device cuda``) for a better model in the same time.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BASE_COLORS = ["red", "orange", "yellow", "green", "blue", "purple", "pink", "black", "gray", "brown"]
HELD_OUT = ["teal"]
SHAPES = ["circle", "square", "triangle", "star", "heart", "diamond"]
SIZE = 32


def render(prompts_seeds: list[tuple[str, int]], folder: Path):
    """Draw each (prompt, seed) with the procedural engine at 64 px and keep a 32 px copy."""
    from PIL import Image

    from backends.base import GenerationRequest
    from studio.core import Studio
    from studio.settings import load_settings

    studio = Studio(load_settings(data_dir=Path(tempfile.mkdtemp(prefix="tiny-shapes-"))))
    engine = studio.backends.get("procedural")
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, (prompt, seed) in enumerate(prompts_seeds):
        img = engine.generate(GenerationRequest(prompt=prompt, seed=seed, width=64, height=64)).image
        img = img.convert("RGB").resize((SIZE, SIZE), Image.LANCZOS)
        name = f"{i:05d}.png"
        img.save(folder / name)
        rows.append({"input_prompt": prompt, "output_image": name})
    studio.close()
    return rows


def to_tensor(folder: Path, rows):
    import numpy as np
    import torch
    from PIL import Image

    arr = np.stack([np.asarray(Image.open(folder / r["output_image"]).convert("RGB")) for r in rows])
    return torch.from_numpy(arr).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def train_vae(vae, pixels, steps: int, device, log) -> None:
    import torch

    vae.train().to(device)
    opt = torch.optim.AdamW(vae.parameters(), lr=2e-3, weight_decay=0.0)
    for step in range(1, steps + 1):
        idx = torch.randint(0, len(pixels), (32,))
        x = pixels[idx].to(device)
        post = vae.encode(x).latent_dist
        z = post.sample()
        rec = vae.decode(z).sample
        loss = torch.nn.functional.mse_loss(rec, x) + 1e-6 * post.kl().mean()
        loss.backward()
        opt.step()
        opt.zero_grad()
        if step % 50 == 0 or step == steps:
            log(f"vae step {step}/{steps} reconstruction mse {loss.item():.4f}")
    vae.eval()


def train_unet(pipe, pixels, prompts, steps: int, device, log) -> None:
    import torch
    import torch.nn.functional as F

    unet, vae, te, tok, sched = pipe.unet, pipe.vae, pipe.text_encoder, pipe.tokenizer, pipe.scheduler
    with torch.no_grad():
        latents = torch.cat([vae.encode(pixels[i:i + 64].to(device)).latent_dist.mode()
                             for i in range(0, len(pixels), 64)]) * vae.config.scaling_factor
        ids = tok(prompts, padding="max_length", max_length=tok.model_max_length, truncation=True,
                  return_tensors="pt").input_ids.to(device)
        hidden = torch.cat([te(ids[i:i + 256])[0] for i in range(0, len(ids), 256)])
        empty = te(tok([""], padding="max_length", max_length=tok.model_max_length, return_tensors="pt")
                   .input_ids.to(device))[0]
    unet.train().to(device)
    opt = torch.optim.AdamW(unet.parameters(), lr=1e-3, weight_decay=1e-2)
    lr = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-3, total_steps=steps, pct_start=0.05)
    for step in range(1, steps + 1):
        idx = torch.randint(0, len(latents), (32,))
        z, h = latents[idx], hidden[idx].clone()
        drop = torch.rand(len(idx)) < 0.1  # keeps an unconditional branch for guidance
        h[drop] = empty
        noise = torch.randn_like(z)
        t = torch.randint(0, sched.config.num_train_timesteps, (len(idx),), device=device)
        loss = F.mse_loss(unet(sched.add_noise(z, noise, t), t, h).sample, noise)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        opt.step()
        lr.step()
        opt.zero_grad()
        if step % 100 == 0 or step == steps:
            log(f"unet step {step}/{steps} loss {loss.item():.4f}")
    unet.eval()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "assets" / "models" / "tiny-shapes"))
    ap.add_argument("--dataset-out", default=str(ROOT / "assets" / "datasets" / "teal-shapes"))
    ap.add_argument("--per-pair", type=int, default=12, help="images per (colour, shape)")
    ap.add_argument("--vae-steps", type=int, default=600)
    ap.add_argument("--unet-steps", type=int, default=2500)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()

    import torch
    from diffusers import DDIMScheduler, StableDiffusionPipeline

    from finetune.tiny import BASE_WORDS, build_tiny_pipeline

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    random.seed(0)
    t0 = time.time()

    def log(msg: str) -> None:
        print(f"[{time.time() - t0:6.0f}s] {msg}", flush=True)

    out = Path(args.out)
    work = Path(tempfile.mkdtemp(prefix="tiny-shapes-data-"))
    pairs = [(f"a {c} {s}", seed) for c in BASE_COLORS for s in SHAPES for seed in range(args.per_pair)]
    rows = render(pairs, work)
    log(f"rendered {len(rows)} procedural images")
    words = set(BASE_WORDS) | set(BASE_COLORS) | set(HELD_OUT) | set(SHAPES)
    build_tiny_pipeline(out, sample_size=SIZE // 2, unet_channels=(32, 64), vae_channels=(32, 64),
                        text_dim=32, words=sorted(words))
    pipe = StableDiffusionPipeline.from_pretrained(str(out), safety_checker=None)
    pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config)
    pixels = to_tensor(work, rows)
    device = torch.device(args.device)
    pipe.text_encoder.to(device).requires_grad_(False)
    train_vae(pipe.vae, pixels, args.vae_steps, device, log)
    pipe.vae.requires_grad_(False)
    train_unet(pipe, pixels, [r["input_prompt"] for r in rows], args.unet_steps, device, log)
    pipe.to("cpu")
    pipe.save_pretrained(str(out))
    (out / "TRAINING.md").write_text(
        f"Trained by scripts/train_cpu_base_model.py on {len(rows)} procedural images "
        f"({', '.join(BASE_COLORS)} × {', '.join(SHAPES)}); held-out colours: {', '.join(HELD_OUT)}.\n"
        f"VAE {args.vae_steps} steps, UNet {args.unet_steps} steps, batch 32, {SIZE}×{SIZE} px.\n", encoding="utf-8")
    log(f"saved {out}")

    teal_dir = Path(args.dataset_out)
    teal_rows = render([(f"a {c} {s}", seed) for c in HELD_OUT for s in SHAPES for seed in range(4)], teal_dir)
    (teal_dir / "text_to_image.json").write_text(json.dumps(teal_rows, indent=1), encoding="utf-8")
    log(f"wrote the {len(teal_rows)}-image held-out colour dataset to {teal_dir}")

    grid_prompts = [f"a {c} {s}" for c in ("red", "blue", "yellow", "teal") for s in ("circle", "square")]
    images = [pipe(p, num_inference_steps=20, height=SIZE, width=SIZE, guidance_scale=3.0,
                   generator=torch.Generator().manual_seed(i)).images[0] for i, p in enumerate(grid_prompts)]
    from PIL import Image

    grid = Image.new("RGB", (SIZE * len(images), SIZE))
    for i, img in enumerate(images):
        grid.paste(img, (SIZE * i, 0))
    grid.resize((grid.width * 4, grid.height * 4), Image.NEAREST).save(out / "samples.png")
    log("samples (" + ", ".join(grid_prompts) + f") in {out / 'samples.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
