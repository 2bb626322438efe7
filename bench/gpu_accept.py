"""Release acceptance on a CUDA GPU: real-size architectures with random weights, nothing downloaded.

For each model family it builds the published architecture from a config (random weights), then measures

* sd15, sdxl: the studio's text-to-image backend against the bare diffusers pipeline call (same folder,
  steps, size and guidance; ratio studio/bare), peak GPU memory of each, and a few hundred LoRA
  training steps through the studio's training task (steps/s, peak memory, first/last loss);
* flux: FLUX.1-sized transformer blocks (real widths, a few blocks) at 1024x1024: time per double and
  single block, and the forward time extrapolated to the full 19 + 38 blocks;
* janus: Janus-Pro-1B built from transformers' ``JanusConfig``: one forward over a prompt plus 576 image
  tokens, and 576 cached decoding steps (the cost of one image's tokens), peak memory.

It prints one JSON summary (and writes it with ``--json-out``). Without CUDA it says so and exits with
status 2; ``--tiny`` runs the same code on toy sizes on any device, to check the script itself (its
figures mean nothing). See bench/README.md.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

MODELS = ("sd15", "sdxl", "flux", "janus")
NO_CUDA = ("gpu_accept: no CUDA GPU is visible, so there is nothing to accept here. Run it on the GPU "
           "machine of the release (see bench/README.md), or add --tiny to check the script on toy sizes.")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default=",".join(MODELS),
                   help=f"comma-separated subset of {', '.join(MODELS)} (default: all)")
    p.add_argument("--steps", type=int, default=20, help="denoising steps per image (default 20)")
    p.add_argument("--runs", type=int, default=3, help="timed calls per measurement after one warm-up (default 3)")
    p.add_argument("--lora-steps", type=int, default=200, help="LoRA training steps for sd15/sdxl (default 200)")
    p.add_argument("--flux-blocks", default="2,4",
                   help="double,single FLUX blocks to build, each at least 2 (default 2,4)")
    p.add_argument("--workdir", default="", help="folder for the random pipelines (default: a temp folder)")
    p.add_argument("--json-out", default="", help="also write the JSON summary to this file")
    p.add_argument("--tiny", action="store_true", help="toy sizes on any device: checks the script only")
    args = p.parse_args(argv)
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in args.models if m not in MODELS]
    if unknown:
        p.error(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(MODELS)}")
    try:
        args.flux_blocks = tuple(int(x) for x in args.flux_blocks.split(","))
        assert len(args.flux_blocks) == 2 and min(args.flux_blocks) >= 2
    except (ValueError, AssertionError):
        p.error("--flux-blocks takes two numbers of at least 2: double,single (e.g. 2,4)")
    for name in ("steps", "runs", "lora_steps"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


# -- measuring -------------------------------------------------------------------------------
class Meter:
    """Wall time (device-synchronised) and peak device memory of calls."""

    def __init__(self, device: str) -> None:
        import torch

        self.torch, self.cuda = torch, device.startswith("cuda")

    def reset(self) -> None:
        if self.cuda:
            self.torch.cuda.synchronize()
            self.torch.cuda.empty_cache()
            self.torch.cuda.reset_peak_memory_stats()

    def peak_gib(self) -> float | None:
        return round(self.torch.cuda.max_memory_allocated() / 2**30, 3) if self.cuda else None

    def seconds(self, fn: Callable[[], Any], runs: int) -> list[float]:
        fn()  # warm-up: kernels, allocator, caches
        out = []
        for _ in range(runs):
            if self.cuda:
                self.torch.cuda.synchronize()
            start = time.perf_counter()
            fn()
            if self.cuda:
                self.torch.cuda.synchronize()
            out.append(time.perf_counter() - start)
        return out


def _summary(times: list[float]) -> dict[str, float]:
    return {"median_s": round(statistics.median(times), 4), "min_s": round(min(times), 4)}


# -- random pipelines from configs -------------------------------------------------------------
def _clip_text(vocab: int, hidden: int, layers: int, heads: int, inter: int, projection: int | None, act: str):
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    cfg = CLIPTextConfig(vocab_size=vocab, hidden_size=hidden, intermediate_size=inter, num_hidden_layers=layers,
                         num_attention_heads=heads, max_position_embeddings=77, hidden_act=act,
                         projection_dim=projection or hidden, bos_token_id=0, eos_token_id=1, pad_token_id=1)
    return CLIPTextModelWithProjection(cfg) if projection else CLIPTextModel(cfg)


def _vae(tiny: bool, scaling: float):
    from diffusers import AutoencoderKL

    channels = (8, 16) if tiny else (128, 256, 512, 512)
    return AutoencoderKL(block_out_channels=channels, down_block_types=("DownEncoderBlock2D",) * len(channels),
                         up_block_types=("UpDecoderBlock2D",) * len(channels), latent_channels=4,
                         layers_per_block=1 if tiny else 2, norm_num_groups=4 if tiny else 32,
                         sample_size=64 if tiny else 1024, scaling_factor=scaling)


def build_sd15(folder: Path, tiny: bool) -> tuple[Path, int]:
    """Stable Diffusion 1.5's UNet, VAE and CLIP ViT-L/14 text encoder; returns (folder, resolution)."""
    import torch
    from diffusers import DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel

    from finetune.tiny import build_clip_tokenizer

    torch.manual_seed(0)
    tokenizer = build_clip_tokenizer(folder / "_tok", max_length=77)
    hidden = 32 if tiny else 768
    text = _clip_text(49408, hidden, 2 if tiny else 12, 4 if tiny else 12, 64 if tiny else 3072, None, "quick_gelu")
    if tiny:
        unet = UNet2DConditionModel(block_out_channels=(8, 16), layers_per_block=1, sample_size=32,
                                    down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                                    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=hidden,
                                    norm_num_groups=4, attention_head_dim=4)
    else:  # the class defaults are SD 1.x's UNet; only the text width differs
        unet = UNet2DConditionModel(sample_size=64, cross_attention_dim=hidden, attention_head_dim=8)
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                              clip_sample=False, set_alpha_to_one=False, steps_offset=1)
    pipe = StableDiffusionPipeline(vae=_vae(tiny, 0.18215), text_encoder=text, tokenizer=tokenizer, unet=unet,
                                   scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    pipe.to(torch.bfloat16).save_pretrained(str(folder))
    return folder, 64 if tiny else 512


def build_sdxl(folder: Path, tiny: bool) -> tuple[Path, int]:
    """SDXL base: its UNet (added text/time conditioning), VAE, CLIP ViT-L and OpenCLIP bigG encoders."""
    import torch
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel

    from finetune.tiny import build_clip_tokenizer

    torch.manual_seed(0)
    tokenizer = build_clip_tokenizer(folder / "_tok", max_length=77)
    if tiny:
        te1 = _clip_text(49408, 32, 2, 4, 64, None, "quick_gelu")
        te2 = _clip_text(49408, 32, 2, 4, 64, 32, "gelu")
        unet = UNet2DConditionModel(block_out_channels=(8, 16), layers_per_block=1, sample_size=32,
                                    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                    up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), attention_head_dim=(2, 4),
                                    use_linear_projection=True, addition_embed_type="text_time",
                                    addition_time_embed_dim=8, projection_class_embeddings_input_dim=80,
                                    cross_attention_dim=64, norm_num_groups=4)
    else:
        te1 = _clip_text(49408, 768, 12, 12, 3072, None, "quick_gelu")
        te2 = _clip_text(49408, 1280, 32, 20, 5120, 1280, "gelu")
        unet = UNet2DConditionModel(
            sample_size=128, block_out_channels=(320, 640, 1280), layers_per_block=2,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
            transformer_layers_per_block=(1, 2, 10), attention_head_dim=(5, 10, 20), cross_attention_dim=2048,
            use_linear_projection=True, addition_embed_type="text_time", addition_time_embed_dim=256,
            projection_class_embeddings_input_dim=2816)
    scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                       steps_offset=1, timestep_spacing="leading")
    pipe = StableDiffusionXLPipeline(vae=_vae(tiny, 0.13025), text_encoder=te1, text_encoder_2=te2,
                                     tokenizer=tokenizer, tokenizer_2=tokenizer, unet=unet, scheduler=scheduler,
                                     add_watermarker=False)
    pipe.to(torch.bfloat16).save_pretrained(str(folder))
    return folder, 64 if tiny else 1024


# -- measurements ----------------------------------------------------------------------------
def measure_text2image(name: str, folder: Path, resolution: int, args, device: str) -> dict[str, Any]:
    """The studio's DiffusersText2Image against the bare pipeline on the same folder and settings."""
    import torch
    from diffusers import DiffusionPipeline

    from backends.base import GenerationRequest
    from backends.diffusers_engine import DiffusersText2Image, text_family
    from backends.model_cache import ModelCache

    meter = Meter(device)
    dtype = torch.bfloat16
    prompt = "a red square on a blue table"
    meter.reset()
    pipe = DiffusionPipeline.from_pretrained(str(folder), dtype=dtype).to(device)
    pipe.set_progress_bar_config(disable=True)
    guidance = text_family(pipe).cfg
    bare_kwargs = {"prompt": prompt, "width": resolution, "height": resolution, "num_inference_steps": args.steps,
                   "guidance_scale": guidance, "output_type": "pil"}

    def bare() -> None:
        with torch.inference_mode():
            pipe(**bare_kwargs, generator=torch.Generator("cpu").manual_seed(0))

    bare_times = meter.seconds(bare, args.runs)
    bare_peak = meter.peak_gib()
    del pipe
    meter.reset()
    cache = ModelCache()
    backend = DiffusersText2Image(f"accept-{name}", model=str(folder), device=device, dtype="bfloat16", cache=cache)
    request = GenerationRequest(prompt, width=resolution, height=resolution, steps=args.steps,
                                guidance_scale=guidance, seed=0)
    studio_times = meter.seconds(lambda: backend.generate(request), args.runs)
    studio_peak = meter.peak_gib()
    cache.clear()
    return {"resolution": resolution, "steps": args.steps, "guidance_scale": guidance,
            "bare": {**_summary(bare_times), "peak_gib": bare_peak},
            "studio": {**_summary(studio_times), "peak_gib": studio_peak},
            "overhead_ratio_median": round(statistics.median(studio_times) / statistics.median(bare_times), 4)}


def measure_lora(folder: Path, resolution: int, args, device: str, workdir: Path) -> dict[str, Any]:
    """LoRA steps through the studio's training task (bf16 mixed precision, batch 1, AdamW)."""
    import torch
    from PIL import Image

    from finetune.config import parse_config
    from finetune.diffusion_task import DiffusionTask

    data = workdir / "lora-data"
    data.mkdir(parents=True, exist_ok=True)
    released, rows = [], []
    for i, colour in enumerate([(220, 30, 30), (30, 30, 220), (30, 200, 30), (230, 230, 30)]):
        img = Image.new("RGB", (resolution, resolution), (128, 128, 128))
        img.paste(colour, (resolution // 4, resolution // 4, 3 * resolution // 4, 3 * resolution // 4))
        img.save(data / f"{i}.png")
        released.append({"input_prompt": f"a square number {i}", "output_image": f"{i}.png"})
        rows.append({"prompt": f"a square number {i}", "output_image": str(data / f"{i}.png")})
    (data / "text_to_image.json").write_text(json.dumps(released), encoding="utf-8")
    config = parse_config({
        "base_model": str(folder), "task": "text-to-image", "method": "lora", "resolution": resolution,
        "batch_size": 1, "learning_rate": 1e-4, "max_steps": args.lora_steps, "device": device,
        "mixed_precision": "bf16" if device.startswith("cuda") else "no",
        "dataset": {"source": "file", "name": str(data / "text_to_image.json")},
        "output_dir": str(workdir / "lora-out"), "lora": {"rank": 16, "alpha": 16.0}})
    meter = Meter(device)
    meter.reset()
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    task = DiffusionTask(config, torch.device(device), dtype)
    examples = [task.make_example(r) for r in rows]
    opt = torch.optim.AdamW(task.trainable_parameters(), lr=config.learning_rate)
    autocast = torch.autocast(device.split(":")[0], dtype=dtype, enabled=dtype != torch.float32)
    losses: list[float] = []

    def step(i: int) -> None:
        batch = torch.utils.data.default_collate([examples[i % len(examples)]])
        with autocast:
            loss = task.loss(task.unet, batch)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(loss.item())

    warm = min(10, args.lora_steps)
    for i in range(warm):
        step(i)
    if meter.cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    for i in range(warm, warm + args.lora_steps):
        step(i)
    if meter.cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return {"steps": args.lora_steps, "steps_per_s": round(args.lora_steps / seconds, 3),
            "peak_gib": meter.peak_gib(), "first_loss": round(losses[0], 5),
            "last10_mean_loss": round(statistics.mean(losses[-10:]), 5)}


def measure_flux_blocks(args, device: str) -> dict[str, Any]:
    """FLUX.1 transformer with the released widths and a few blocks; per-block times at 1024x1024."""
    import torch
    from diffusers import FluxTransformer2DModel

    double, single = args.flux_blocks
    if args.tiny:
        dims = {"attention_head_dim": 16, "num_attention_heads": 2, "joint_attention_dim": 32,
                "pooled_projection_dim": 32, "in_channels": 4, "axes_dims_rope": (4, 4, 8)}
        image_tokens, text_tokens = 64, 16
    else:  # FLUX.1-dev: 3072 wide (24 heads x 128), T5-XXL context 4096, CLIP pooled 768, 64 latent channels
        dims = {"attention_head_dim": 128, "num_attention_heads": 24, "joint_attention_dim": 4096,
                "pooled_projection_dim": 768, "in_channels": 64, "axes_dims_rope": (16, 56, 56)}
        image_tokens, text_tokens = (1024 // 16) ** 2, 512
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    meter = Meter(device)
    meter.reset()

    def build(n_double: int, n_single: int):
        torch.manual_seed(0)
        return FluxTransformer2DModel(num_layers=n_double, num_single_layers=n_single, guidance_embeds=True,
                                      **dims).to(device, dtype).eval()

    side = int(image_tokens ** 0.5)
    img_ids = torch.zeros(side, side, 3)
    img_ids[..., 1] = torch.arange(side)[:, None]
    img_ids[..., 2] = torch.arange(side)[None, :]
    inputs = {"hidden_states": torch.randn(1, image_tokens, dims["in_channels"], device=device, dtype=dtype),
              "encoder_hidden_states": torch.randn(1, text_tokens, dims["joint_attention_dim"], device=device,
                                                   dtype=dtype),
              "pooled_projections": torch.randn(1, dims["pooled_projection_dim"], device=device, dtype=dtype),
              "timestep": torch.tensor([0.5], device=device, dtype=dtype),
              "guidance": torch.tensor([3.5], device=device, dtype=dtype),
              "img_ids": img_ids.reshape(-1, 3).to(device, dtype),
              "txt_ids": torch.zeros(text_tokens, 3, device=device, dtype=dtype)}

    def forward_time(n_double: int, n_single: int) -> tuple[float, int, float | None]:
        meter.reset()
        model = build(n_double, n_single)

        def call() -> None:
            with torch.inference_mode():
                model(**inputs, return_dict=False)

        seconds = statistics.median(meter.seconds(call, args.runs))
        params = sum(p.numel() for p in model.parameters())
        del model
        return seconds, params, meter.peak_gib()

    # one block fewer of each kind gives the per-block times; the rest (embedders, output) is shared
    t_both, params, peak = forward_time(double, single)
    per_double = t_both - forward_time(double - 1, single)[0]
    per_single = t_both - forward_time(double, single - 1)[0]
    rest = t_both - double * per_double - single * per_single
    return {"double_blocks": double, "single_blocks": single, "image_tokens": image_tokens,
            "text_tokens": text_tokens, "params_millions": round(params / 1e6, 1), "forward_s": round(t_both, 5),
            "peak_gib": peak, "per_double_block_s": round(per_double, 5), "per_single_block_s": round(per_single, 5),
            "full_19_38_forward_estimate_s": round(rest + 19 * per_double + 38 * per_single, 4)}


def measure_janus(args, device: str) -> dict[str, Any]:
    """Janus-Pro-1B from transformers' JanusConfig: prompt + 576 image tokens forward, 576 cached steps."""
    import torch
    from transformers import JanusConfig, JanusForConditionalGeneration, JanusVisionConfig, JanusVQVAEConfig
    from transformers import LlamaConfig

    if args.tiny:
        text = LlamaConfig(vocab_size=512, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                           num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=1024)
        vision = JanusVisionConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=4, image_size=32,
                                   patch_size=8, projection_dim=32, depth=2, num_image_tokens=16)
        vq = JanusVQVAEConfig(embed_dim=8, num_embeddings=64, latent_channels=32, base_channels=32,
                              channel_multiplier=[1, 1, 1, 2], num_res_blocks=1, projection_dim=32,
                              image_token_embed_dim=32, num_hidden_layers=2)
        image_tokens = 16
    else:  # Janus-Pro-1B: a 24-layer 2048-wide LLaMA, SigLIP-L/16 at 384, a 16384-code VQ tokenizer
        text = LlamaConfig(vocab_size=102400, hidden_size=2048, intermediate_size=5632, num_hidden_layers=24,
                           num_attention_heads=16, num_key_value_heads=16, max_position_embeddings=16384)
        vision = JanusVisionConfig(projection_dim=2048)
        vq = JanusVQVAEConfig(projection_dim=2048, image_token_embed_dim=2048)
        image_tokens = 576
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    meter = Meter(device)
    meter.reset()
    torch.manual_seed(0)
    model = JanusForConditionalGeneration(JanusConfig(text_config=text, vision_config=vision, vq_config=vq))
    model = model.to(device, dtype).eval()
    lm = model.model.language_model
    prompt = 32
    embeds = torch.randn(2, prompt + image_tokens, text.hidden_size, device=device, dtype=dtype)  # cond + uncond

    def full_forward() -> None:
        with torch.inference_mode():
            lm(inputs_embeds=embeds, use_cache=False)

    def decode_one_image() -> None:
        with torch.inference_mode():
            out = lm(inputs_embeds=embeds[:, :prompt], use_cache=True)
            cache = out.past_key_values
            step = embeds[:, prompt:prompt + 1]
            for _ in range(image_tokens):
                out = lm(inputs_embeds=step, past_key_values=cache, use_cache=True)
                cache = out.past_key_values
                model.model.generation_head(out.last_hidden_state[:, -1])

    forward = meter.seconds(full_forward, args.runs)
    decode = meter.seconds(decode_one_image, 1 if not args.tiny else args.runs)
    return {"params_millions": round(sum(p.numel() for p in model.parameters()) / 1e6, 1),
            "image_tokens": image_tokens, "batch": "2 (conditional + unconditional)",
            "forward_prompt_plus_image": _summary(forward), "decode_image_tokens": _summary(decode),
            "peak_gib": meter.peak_gib()}


# -- entry point -----------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    """Acceptance run: 1. check for CUDA, 2. build and measure each family, 3. print the JSON summary."""
    args = parse_args(argv)
    import torch

    if not torch.cuda.is_available() and not args.tiny:
        print(NO_CUDA, file=sys.stderr)
        return 2
    device = "cuda" if torch.cuda.is_available() else "cpu"
    import diffusers
    import transformers

    summary: dict[str, Any] = {
        "device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu",
        "tiny": args.tiny, "torch": torch.__version__, "diffusers": diffusers.__version__,
        "transformers": transformers.__version__, "results": {}}
    with tempfile.TemporaryDirectory(prefix="gpu-accept-") as tmp:
        workdir = Path(args.workdir) if args.workdir else Path(tmp)
        for name in args.models:
            start = time.perf_counter()
            try:
                if name in ("sd15", "sdxl"):
                    build = build_sd15 if name == "sd15" else build_sdxl
                    folder, resolution = build(workdir / name, args.tiny)
                    result = {"text_to_image": measure_text2image(name, folder, resolution, args, device),
                              "lora": measure_lora(folder, resolution, args, device, workdir / f"{name}-lora")}
                elif name == "flux":
                    result = measure_flux_blocks(args, device)
                else:
                    result = measure_janus(args, device)
            except Exception as exc:  # noqa: BLE001 - one family failing must not hide the others
                result = {"error": f"{type(exc).__name__}: {exc}"}
            result["wall_s"] = round(time.perf_counter() - start, 1)
            summary["results"][name] = result
            # each family's figures as soon as they exist: a run stopped by a time limit keeps what it measured
            print(json.dumps({name: result}), flush=True)
            if args.json_out:
                Path(args.json_out).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
            if device == "cuda":
                torch.cuda.empty_cache()
    print(json.dumps(summary, indent=2))
    return 1 if any("error" in r for r in summary["results"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
