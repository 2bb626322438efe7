"""The training loop shared by every task: accelerate, checkpoints, resume, stop, samples, tracking.

One optimizer step = ``gradient_accumulation_steps`` batches. A checkpoint is an accelerate state
folder (model or LoRA weights, optimizer, LR scheduler, RNG) plus ``trainer_state.json`` with the step
and the position in the epoch, so a resumed run continues with the same batches it would have seen.

Resuming mid-epoch gives the same weights as an uninterrupted run because the global RNG streams are
used by the training steps only: the data loader reads ahead one batch (accelerate) and draws its
worker seed when an iterator starts, so an example's own random draws (flips, crops, masks) come from
a seed of (run seed, epoch, index) instead, and the loader's seed from its own generator.
"""
from __future__ import annotations

import json
import logging
import math
import random
import shutil
import socket
import time
import traceback
from pathlib import Path
from typing import Any

import torch

from finetune.config import PREFERENCE_TASKS, TrainConfig
from finetune.datasets import read_manifest
from finetune.reporting import RunReporter
from finetune.signals import STOP

log = logging.getLogger("finetune.train")

STATE_FILE = "trainer_state.json"


def build_lr_scheduler(config: TrainConfig, optimizer, max_steps: int, num_processes: int):
    """The configured schedule; warm-up from ``lr_warmup_ratio`` when set, cosine decays to ``lr_min_ratio``.

    Counts are multiplied by the number of processes: accelerate steps a prepared scheduler once per
    process for every optimizer step.
    """
    from transformers import get_scheduler

    warmup = (round(config.lr_warmup_ratio * max_steps) if config.lr_warmup_ratio > 0
              else config.lr_warmup_steps)
    name, extra = config.lr_scheduler, {}
    if name == "cosine" and config.lr_min_ratio > 0:
        name, extra = "cosine_with_min_lr", {"min_lr_rate": config.lr_min_ratio}
    return get_scheduler(name, optimizer=optimizer, num_warmup_steps=warmup * num_processes,
                         num_training_steps=max_steps * num_processes, scheduler_specific_kwargs=extra)


def build_task(config: TrainConfig, device: torch.device, dtype: torch.dtype):
    if config.task.startswith("janus-dpo"):
        from finetune.janus_dpo_task import JanusDPOTask

        return JanusDPOTask(config, device, dtype)
    if config.task in PREFERENCE_TASKS:
        from finetune.preference_task import DiffusionDPOTask, WinnerSFTTask

        cls = WinnerSFTTask if config.task.startswith("winner-sft") else DiffusionDPOTask
        return cls(config, device, dtype)
    if config.task.startswith("janus"):
        from finetune.janus_task import JanusTask

        return JanusTask(config, device, dtype)
    from finetune.diffusion_task import DiffusionTask

    return DiffusionTask(config, device, dtype)


def checkpoint_dirs(output_dir: str | Path) -> list[Path]:
    """Checkpoint folders of a run, oldest first (only complete ones: they carry trainer_state.json)."""
    root = Path(output_dir) / "checkpoints"
    if not root.is_dir():
        return []
    found = [p for p in root.glob("checkpoint-*") if (p / STATE_FILE).exists()]
    return sorted(found, key=lambda p: int(p.name.split("-")[1]))


class EpochPermutation(torch.utils.data.Sampler):
    """A shuffle that depends only on (seed, epoch), so a resumed run sees the same batches."""

    def __init__(self, n: int, seed: int) -> None:
        self.n, self.seed, self.epoch = n, seed, 0

    def use_epoch(self, epoch: int) -> None:
        """Named apart from set_epoch: accelerate calls that one with its own pass counter."""
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n

    def __iter__(self):
        g = torch.Generator().manual_seed(self.seed * 1000 + self.epoch)
        return iter(torch.randperm(self.n, generator=g).tolist())


class _Rows(torch.utils.data.Dataset):
    """Examples whose random draws depend only on (seed, epoch, index), never on when they are read."""

    def __init__(self, rows: list[dict[str, Any]], make, seed: int = 0) -> None:
        self.rows, self.make, self.seed, self.epoch = rows, make, seed, 0

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int):
        example_seed = (self.seed * 1_000_003 + self.epoch) * 1_000_003 + i
        py_state, torch_state = random.getstate(), torch.random.get_rng_state()
        random.seed(example_seed)
        torch.random.default_generator.manual_seed(example_seed % 2**63)
        try:
            return self.make(self.rows[i])
        finally:
            random.setstate(py_state)
            torch.random.set_rng_state(torch_state)


class Trainer:
    def __init__(self, config: TrainConfig, reporter: RunReporter | None = None) -> None:
        from accelerate import Accelerator

        self.config = config
        self.output_dir = Path(config.output_dir or "finetune-output")
        self.output_dir.mkdir(parents=True, exist_ok=True)
        from accelerate.utils import DistributedDataParallelKwargs

        cpu = config.device == "cpu" or (config.device == "auto" and not torch.cuda.is_available())
        # Janus: text-only rows leave the vision encoder out of a step's graph
        ddp = DistributedDataParallelKwargs(find_unused_parameters=config.task.startswith("janus"))
        self.accelerator = Accelerator(gradient_accumulation_steps=config.gradient_accumulation_steps,
                                       mixed_precision=config.mixed_precision, cpu=cpu, kwargs_handlers=[ddp])
        self.reporter = reporter or RunReporter.none()
        if not self.accelerator.is_main_process:
            # one process writes: the tracker, samples and the result (others only train)
            self.reporter = RunReporter.none()
        self.stop = STOP

    # -- setup -----------------------------------------------------------------------------
    def _split(self, rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        frac = self.config.dataset.validation_split
        if frac <= 0 or len(rows) < 2:
            return rows, []
        g = torch.Generator().manual_seed(self.config.seed)
        order = torch.randperm(len(rows), generator=g).tolist()
        n_val = max(1, int(len(rows) * frac))
        return [rows[i] for i in order[n_val:]], [rows[i] for i in order[:n_val]]

    def _loader(self, dataset):
        """One prepared DataLoader for the whole run; its sampler reshuffles per epoch (seed, epoch)."""
        self._sampler = EpochPermutation(len(dataset), self.config.seed)
        loader = torch.utils.data.DataLoader(dataset, batch_size=self.config.batch_size, sampler=self._sampler,
                                             num_workers=self.config.dataloader_workers, drop_last=False,
                                             collate_fn=getattr(self.task, "collate", None),
                                             generator=torch.Generator().manual_seed(self.config.seed))
        return self.accelerator.prepare(loader)

    def _register_lora_hooks(self, task) -> None:
        """Checkpoints of a LoRA run hold only the adapter weights, not the frozen base."""
        if self.config.method != "lora":
            return
        from peft.utils import get_peft_model_state_dict, set_peft_model_state_dict
        from safetensors.torch import load_file, save_file

        def save_hook(models, weights, out_dir):
            if not self.accelerator.is_main_process:  # every rank runs the hook; one writes
                weights.clear()
                return
            for m in models:
                state = get_peft_model_state_dict(task.adapter_module(self.accelerator.unwrap_model(m)))
                save_file({k: v.contiguous() for k, v in state.items()}, str(Path(out_dir) / "adapter.safetensors"))
            weights.clear()

        def load_hook(models, in_dir):
            while models:
                m = models.pop()
                set_peft_model_state_dict(task.adapter_module(self.accelerator.unwrap_model(m)),
                                          load_file(str(Path(in_dir) / "adapter.safetensors")))

        self.accelerator.register_save_state_pre_hook(save_hook)
        self.accelerator.register_load_state_pre_hook(load_hook)

    # -- checkpoints -----------------------------------------------------------------------
    def save_checkpoint(self, step: int, epoch: int, batches_done: int) -> Path:
        path = self.output_dir / "checkpoints" / f"checkpoint-{step}"
        self.accelerator.wait_for_everyone()
        self.accelerator.save_state(str(path))
        if self.accelerator.is_main_process:
            (path / STATE_FILE).write_text(json.dumps(
                {"step": step, "epoch": epoch, "batches_done": batches_done}), encoding="utf-8")
            self.reporter.checkpoint(step, str(path))
            keep = self.config.checkpoints_total_limit
            for old in checkpoint_dirs(self.output_dir)[:-keep]:
                shutil.rmtree(old, ignore_errors=True)
                self.reporter.checkpoint_removed(str(old))
        log.info("checkpoint saved at step %d: %s", step, path)
        return path

    # -- the loop --------------------------------------------------------------------------
    def run(self) -> str:
        """Train; returns the final status: completed, stopped (or raises after marking failed)."""
        self.stop.install()
        try:
            return self._run()
        except BaseException as exc:
            oom = isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower()
            msg = ("out of memory: lower the batch size or resolution, or enable gradient "
                   "checkpointing / mixed precision\n" if oom else "") + traceback.format_exc()
            log.error("training failed: %s", msg)
            self.reporter.failed(msg)
            raise
        finally:
            self.reporter.close()

    def _run(self) -> str:
        from accelerate.utils import set_seed

        c, acc = self.config, self.accelerator
        set_seed(c.seed)
        dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(acc.mixed_precision, torch.float32)
        rows = read_manifest(c.manifest)
        train_rows, val_rows = self._split(rows)
        task = self.task = build_task(c, acc.device, dtype)
        dataset = _Rows(train_rows, task.make_example, c.seed)
        per_epoch = math.ceil(math.ceil(len(dataset) / (c.batch_size * acc.num_processes))
                              / c.gradient_accumulation_steps)
        epoch_batches = math.ceil(len(dataset) / (c.batch_size * acc.num_processes))
        max_steps = c.max_steps or per_epoch * c.num_epochs
        num_epochs = math.ceil(max_steps / per_epoch)
        params = task.trainable_parameters()
        groups = task.parameter_groups(c.weight_decay) if hasattr(task, "parameter_groups") else params
        optimizer = torch.optim.AdamW(groups, lr=c.learning_rate, betas=(c.adam_beta1, c.adam_beta2),
                                      weight_decay=c.weight_decay, eps=c.adam_epsilon)
        lr_scheduler = build_lr_scheduler(c, optimizer, max_steps, acc.num_processes)
        model = task.trainable_module()
        if acc.state.deepspeed_plugin is not None:  # DeepSpeed sizes its buffers from the micro-batch
            acc.state.deepspeed_plugin.deepspeed_config["train_micro_batch_size_per_gpu"] = c.batch_size
        self._register_lora_hooks(task)
        model, optimizer, lr_scheduler = acc.prepare(model, optimizer, lr_scheduler)
        self.model, self.optimizer, self.lr_scheduler = model, optimizer, lr_scheduler

        base_loader = self._loader(dataset)
        step, start_epoch, skip = 0, 0, 0
        existing = checkpoint_dirs(self.output_dir)
        if existing:
            ckpt = existing[-1]
            acc.load_state(str(ckpt))
            state = json.loads((ckpt / STATE_FILE).read_text())
            step, start_epoch, skip = state["step"], state["epoch"], state["batches_done"]
            log.info("resumed from %s at step %d", ckpt, step)
        self.reporter.started(device=str(acc.device), host=socket.gethostname(), total_steps=max_steps,
                              resumed_from=step)
        log.info("training %s/%s on %s (%d process%s): %d rows (%d validation), %d steps",
                 c.task, c.method, acc.device, acc.num_processes, "" if acc.num_processes == 1 else "es",
                 len(train_rows), len(val_rows), max_steps)
        if self._should_stop():
            self.reporter.stopped(step)
            log.info("stop requested before training began (step %d); nothing new to save", step)
            self.step = step
            return "stopped"
        if step == 0 and c.sample_every:
            self._sample(0)

        t_last, steps_since = time.perf_counter(), 0
        accum_loss = 0.0
        status = "completed"
        for epoch in range(start_epoch, num_epochs):
            self._sampler.use_epoch(epoch)
            dataset.epoch = epoch
            loader = acc.skip_first_batches(base_loader, skip) if skip else base_loader
            batches_done = skip
            skip = 0
            for batch in loader:
                with acc.accumulate(model):
                    loss = task.loss(model, batch)
                    acc.backward(loss)
                    if acc.sync_gradients:
                        acc.clip_grad_norm_(params, c.max_grad_norm)
                    optimizer.step()
                    lr_scheduler.step()
                    optimizer.zero_grad(set_to_none=True)
                batches_done += 1
                accum_loss += loss.detach().item() / c.gradient_accumulation_steps
                if not acc.sync_gradients:
                    continue
                step += 1
                steps_since += 1
                now = time.perf_counter()
                metrics = {"loss": accum_loss, "lr": lr_scheduler.get_last_lr()[0],
                           **getattr(task, "last_metrics", {})}
                if now - t_last >= 1.0:
                    metrics["steps_per_s"] = steps_since / (now - t_last)
                    t_last, steps_since = now, 0
                self.reporter.metrics(step, metrics)
                accum_loss = 0.0
                if c.sample_every and step % c.sample_every == 0:
                    self._sample(step)
                finished = step >= max_steps
                stopping = self._should_stop()
                if step % c.checkpointing_steps == 0 or stopping or finished:
                    if val_rows:
                        if hasattr(task, "held_out_metrics"):  # preference tasks: DPO figures on held-out pairs
                            self.reporter.metrics(step, task.held_out_metrics(model, val_rows, c.seed))
                        else:
                            self.reporter.metrics(step, {"val_loss": self._val_loss(val_rows)})
                    if batches_done >= epoch_batches:
                        self.save_checkpoint(step, epoch + 1, 0)
                    else:
                        self.save_checkpoint(step, epoch, batches_done)
                if stopping and not finished:
                    status = "stopped"
                    break
                if finished:
                    break
            if status == "stopped" or step >= max_steps:
                break
        self.reporter.flush(step)
        if status == "completed":
            if c.sample_every and step % c.sample_every:
                self._sample(step)
            acc.wait_for_everyone()
            result = None
            extra = {}
            if acc.distributed_type.value in ("FSDP", "DEEPSPEED") and c.method == "full":
                extra["state_dict"] = acc.get_state_dict(model)  # gathered from the shards on every rank
            if acc.is_main_process:
                result = task.save_result(acc.unwrap_model(model), self.output_dir / "result", **extra)
            self.reporter.completed(step, str(result) if result else None)
            log.info("training completed at step %d; result in %s", step, result)
        else:
            self.reporter.stopped(step)
            log.info("training stopped at step %d (checkpoint saved)", step)
        self.step = step
        return status

    def _should_stop(self) -> bool:
        flag = self.stop.set or self.reporter.stop_requested()
        if self.accelerator.num_processes > 1:
            t = torch.tensor([1.0 if flag else 0.0], device=self.accelerator.device)
            flag = bool(self.accelerator.reduce(t, reduction="sum").item() > 0)
        return flag

    @torch.no_grad()
    def _val_loss(self, rows: list[dict[str, Any]]) -> float:
        """Mean loss on the held-out rows with a fixed noise seed, so values compare across steps."""
        state = torch.random.get_rng_state()
        torch.manual_seed(self.config.seed)
        losses = []
        for i in range(0, len(rows), self.config.batch_size):
            collate = getattr(self.task, "collate", torch.utils.data.default_collate)
            batch = collate([self.task.make_example(r) for r in rows[i:i + self.config.batch_size]])
            losses.append(self.task.loss(self.model, batch).item())
        torch.random.set_rng_state(state)
        return sum(losses) / max(1, len(losses))

    def _sample(self, step: int) -> None:
        if not self.accelerator.is_main_process or not self.config.sample_prompts:
            return
        state = torch.random.get_rng_state()
        rows = read_manifest(self.config.manifest)
        sources = [r["input_images"][0] for r in rows if r.get("input_images")][:4]
        images = self.task.sample(self.accelerator.unwrap_model(self.model), self.config.sample_prompts,
                                  sources, self.config.seed)
        torch.random.set_rng_state(state)
        folder = self.output_dir / "samples"
        folder.mkdir(parents=True, exist_ok=True)
        items = []
        for i, (prompt, img) in enumerate(zip(self.config.sample_prompts, images)):
            path = folder / f"step-{step:06d}-{i}.png"
            img.save(path)
            items.append((prompt, str(path)))
        self.reporter.samples(step, items)
        log.info("samples at step %d: %s", step, folder)
