"""Train the studio's small CPU base model ("tiny-shapes") on images from the procedural engine.

A Stable-Diffusion-shaped pipeline at toy size (32×32 pixels, 16×16×4 latents, a word-level CLIP
tokenizer, a 2-layer CLIP text encoder): first the VAE learns to reconstruct procedural shapes in
every colour the procedural engine knows (it is the image codec), then the latents' scaling factor
is set so they have unit variance, then the UNet and the text encoder learn together to denoise
the latents given the prompt. The text-to-image part never sees the colours in HELD_OUT (teal),
so the LoRA preset "CPU: teach the tiny model a new colour" has something to teach; its dataset
(teal shapes, plus a few known-colour "keep" rows) is written to assets/datasets/teal-shapes.

    .venv/bin/python scripts/train_cpu_base_model.py [--out assets/models/tiny-shapes]
        [--vae-steps 450] [--unet-steps 2400] [--threads 1]

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
#: known colours the new-colour dataset keeps in place (prior preservation); red is left out as the control
KEEP_COLORS = ["blue", "green", "yellow", "purple"]
SHAPES = ["circle", "square", "triangle", "star", "heart", "diamond"]
SIZE = 32
SAMPLE_PROMPTS = [f"a {c} {s}" for c in ("red", "blue", "yellow", "green", "teal") for s in ("circle", "square", "star")]


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


def train_vae(vae, pixels, steps: int, lr: float, device, log) -> float:
    """Reconstruction training (MSE + a tiny KL); returns the final held-in reconstruction MSE."""
    import torch

    vae.train().to(device)
    opt = torch.optim.AdamW(vae.parameters(), lr=lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.05)
    for step in range(1, steps + 1):
        idx = torch.randint(0, len(pixels), (32,))
        x = pixels[idx].to(device)
        if random.random() < 0.5:
            x = x.flip(-1)
        post = vae.encode(x).latent_dist
        rec = vae.decode(post.sample()).sample
        loss = torch.nn.functional.mse_loss(rec, x) + 1e-6 * post.kl().mean()
        loss.backward()
        opt.step()
        sched.step()
        opt.zero_grad()
        if step % 100 == 0 or step == steps:
            log(f"vae step {step}/{steps} reconstruction mse {loss.item():.4f}")
    vae.eval()
    with torch.no_grad():
        rec = torch.cat([vae.decode(vae.encode(pixels[i:i + 64].to(device)).latent_dist.mode()).sample
                         for i in range(0, len(pixels), 64)])
    return torch.nn.functional.mse_loss(rec, pixels.to(device)).item()


def set_latent_scale(vae, pixels, device) -> float:
    """Scale latents to unit variance, as Stable Diffusion's 0.18215 does for its own VAE."""
    import torch

    with torch.no_grad():
        z = torch.cat([vae.encode(pixels[i:i + 64].to(device)).latent_dist.mode()
                       for i in range(0, len(pixels), 64)])
    scale = float(1.0 / z.std())
    vae.register_to_config(scaling_factor=round(scale, 5))
    return scale


def train_unet_and_text(pipe, pixels, prompts, steps: int, lr: float, device, log,
                        save_every: int = 0, out: Path | None = None) -> None:
    """Denoising loss on the prompt-conditioned latents; the UNet and text encoder learn together.

    With ``save_every`` the pipeline is also saved to ``out`` every that many steps, so a run cut
    short still leaves a usable model.
    """
    import torch
    import torch.nn.functional as F

    unet, vae, te, tok, sched = pipe.unet, pipe.vae, pipe.text_encoder, pipe.tokenizer, pipe.scheduler
    with torch.no_grad():
        latents = torch.cat([vae.encode(pixels[i:i + 64].to(device)).latent_dist.mode()
                             for i in range(0, len(pixels), 64)]) * vae.config.scaling_factor
        flipped = torch.cat([vae.encode(pixels[i:i + 64].flip(-1).to(device)).latent_dist.mode()
                             for i in range(0, len(pixels), 64)]) * vae.config.scaling_factor
    ids = tok(prompts, padding="max_length", max_length=tok.model_max_length, truncation=True,
              return_tensors="pt").input_ids.to(device)
    empty = tok([""], padding="max_length", max_length=tok.model_max_length, return_tensors="pt").input_ids.to(device)
    unet.train().to(device)
    te.train().to(device).requires_grad_(True)
    params = [{"params": unet.parameters(), "weight_decay": 1e-2}, {"params": te.parameters(), "weight_decay": 0.0}]
    opt = torch.optim.AdamW(params, lr=lr)
    lr_sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.05)
    alphas = sched.alphas_cumprod.to(device)
    for step in range(1, steps + 1):
        idx = torch.randint(0, len(latents), (32,))
        flip = torch.rand(len(idx), device=device) < 0.5
        z = torch.where(flip.view(-1, 1, 1, 1), flipped[idx], latents[idx])
        batch_ids = ids[idx].clone()
        batch_ids[torch.rand(len(idx)) < 0.1] = empty[0]  # keeps an unconditional branch for guidance
        h = te(batch_ids)[0]
        noise = torch.randn_like(z)
        t = torch.randint(0, sched.config.num_train_timesteps, (len(idx),), device=device)
        pred = unet(sched.add_noise(z, noise, t), t, h).sample
        snr = alphas[t] / (1 - alphas[t])  # min-SNR-5 weighting (Hang et al. 2023) for faster convergence
        weight = torch.clamp(snr, max=5.0) / snr
        loss = (F.mse_loss(pred, noise, reduction="none").mean(dim=(1, 2, 3)) * weight).mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(unet.parameters()) + list(te.parameters()), 1.0)
        opt.step()
        lr_sched.step()
        opt.zero_grad()
        if step % 100 == 0 or step == steps:
            log(f"unet+text step {step}/{steps} loss {loss.item():.4f}")
        if save_every and out is not None and step % save_every == 0 and step < steps:
            unet.eval()
            te.eval()
            pipe.save_pretrained(str(out))
            unet.train()
            te.train()
            log(f"saved the step-{step} weights to {out}")
    unet.eval()
    te.eval().requires_grad_(False)


def write_new_colour_dataset(folder: Path) -> tuple[int, int]:
    """The LoRA preset's dataset: the held-out colour on every shape, plus "keep" rows.

    The keep rows (known colours, one image per shape, never red: red is the preset's control
    prompt) are prior preservation as in DreamBooth: they stop the adapter from pulling every
    colour toward the new one.
    """
    new = render([(f"a {c} {s}", seed) for c in HELD_OUT for s in SHAPES for seed in range(4)], folder)
    keep = render([(f"a {c} {s}", 50) for c in KEEP_COLORS for s in SHAPES], folder / "keep")
    for row in keep:
        row["output_image"] = f"keep/{row['output_image']}"
    (folder / "text_to_image.json").write_text(json.dumps(new + keep, indent=1), encoding="utf-8")
    return len(new), len(keep)


def save_grid(images, path: Path, cols: int) -> None:
    from PIL import Image

    rows = (len(images) + cols - 1) // cols
    grid = Image.new("RGB", (SIZE * cols, SIZE * rows), "white")
    for i, img in enumerate(images):
        grid.paste(img, (SIZE * (i % cols), SIZE * (i // cols)))
    grid.resize((grid.width * 4, grid.height * 4), Image.NEAREST).save(path)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "assets" / "models" / "tiny-shapes"))
    ap.add_argument("--dataset-out", default=str(ROOT / "assets" / "datasets" / "teal-shapes"))
    ap.add_argument("--per-pair", type=int, default=12, help="images per (colour, shape)")
    ap.add_argument("--vae-steps", type=int, default=450)
    ap.add_argument("--vae-lr", type=float, default=2e-3)
    ap.add_argument("--unet-steps", type=int, default=2400)
    ap.add_argument("--unet-lr", type=float, default=1e-3)
    ap.add_argument("--guidance", type=float, default=4.0, help="guidance scale of samples.png")
    ap.add_argument("--save-every", type=int, default=400, help="also save the pipeline every N UNet steps")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--dataset-only", action="store_true", help="only (re)write the new-colour dataset")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()

    import torch
    from diffusers import DDIMScheduler, StableDiffusionPipeline

    from backends.procedural.lexicon import COLORS
    from finetune.tiny import BASE_WORDS, build_tiny_pipeline

    torch.set_num_threads(args.threads)
    if args.dataset_only:
        print("new-colour and keep rows:", write_new_colour_dataset(Path(args.dataset_out)))
        return 0
    torch.manual_seed(0)
    random.seed(0)
    t0 = time.time()

    def log(msg: str) -> None:
        print(f"[{time.time() - t0:6.0f}s] {msg}", flush=True)

    out = Path(args.out)
    work = Path(tempfile.mkdtemp(prefix="tiny-shapes-data-"))
    pairs = [(f"a {c} {s}", seed) for c in BASE_COLORS for s in SHAPES for seed in range(args.per_pair)]
    rows = render(pairs, work / "text")
    codec_colors = sorted(COLORS)  # the VAE is a colour-agnostic codec: it sees every named colour
    codec_rows = render([(f"a {c} {s}", 100 + seed) for c in codec_colors for s in SHAPES for seed in range(3)],
                        work / "codec")
    log(f"rendered {len(rows)} text-to-image and {len(codec_rows)} codec images")
    words = set(BASE_WORDS) | set(BASE_COLORS) | set(HELD_OUT) | set(SHAPES)
    build_tiny_pipeline(out, sample_size=SIZE // 2, unet_channels=(32, 64), vae_channels=(32, 64),
                        text_dim=32, words=sorted(words))
    pipe = StableDiffusionPipeline.from_pretrained(str(out), safety_checker=None)
    pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config)
    pixels = to_tensor(work / "text", rows)
    codec_pixels = torch.cat([pixels, to_tensor(work / "codec", codec_rows)])
    device = torch.device(args.device)
    pipe.text_encoder.to(device)
    vae_mse = train_vae(pipe.vae, codec_pixels, args.vae_steps, args.vae_lr, device, log)
    pipe.vae.requires_grad_(False)
    scale = set_latent_scale(pipe.vae, pixels, device)
    log(f"vae reconstruction mse {vae_mse:.4f} (pixels in [-1, 1]); latent scaling factor {scale:.4f}")
    train_unet_and_text(pipe, pixels, [r["input_prompt"] for r in rows], args.unet_steps, args.unet_lr, device, log,
                        save_every=args.save_every, out=out)
    pipe.to("cpu")
    pipe.save_pretrained(str(out))
    minutes = (time.time() - t0) / 60
    log(f"saved {out}")

    n_new, n_keep = write_new_colour_dataset(Path(args.dataset_out))
    log(f"wrote the held-out colour dataset ({n_new} new-colour and {n_keep} keep rows) to {args.dataset_out}")

    pipe.set_progress_bar_config(disable=True)
    images = [pipe(p, num_inference_steps=20, height=SIZE, width=SIZE, guidance_scale=args.guidance,
                   generator=torch.Generator().manual_seed(i)).images[0] for i, p in enumerate(SAMPLE_PROMPTS)]
    save_grid(images, out / "samples.png", cols=3)
    (out / "TRAINING_RUN.json").write_text(json.dumps({
        "text_to_image_images": len(rows), "codec_images": len(codec_rows), "vae_steps": args.vae_steps,
        "vae_lr": args.vae_lr, "vae_reconstruction_mse": round(vae_mse, 5), "latent_scaling_factor": round(scale, 5),
        "unet_text_steps": args.unet_steps, "unet_lr": args.unet_lr, "batch_size": 32, "threads": args.threads,
        "device": args.device, "train_minutes": round(minutes, 1), "samples_guidance_scale": args.guidance,
        "samples_prompts": SAMPLE_PROMPTS}, indent=1), encoding="utf-8")
    log("samples (rows: " + ", ".join(SAMPLE_PROMPTS) + f") in {out / 'samples.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
