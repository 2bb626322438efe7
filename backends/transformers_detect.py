"""Object detection through transformers: open-vocabulary detectors (OWLv2, OWL-ViT, queried with the
class names asked for) and closed-set detectors (DETR and other ``AutoModelForObjectDetection`` models,
whose own label names are kept).

Options: model (hub id or folder), device, dtype, threshold (0.3, GenEval's detection threshold),
max_objects (16 per class, GenEval's cap). ``detect(image, labels)`` returns detections sorted by
score, most certain first.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Sequence

from PIL import Image

from backends.base import Backend, BackendLoadError, Capability
from backends.model_cache import CachedModel, ModelCache, shared_cache
from backends.runtime import load_failure, local_files_only, pick_device, run_failure, run_gpu_task

OPEN_VOCABULARY = {"owlv2", "owlvit"}


@dataclass(frozen=True)
class Detection:
    label: str
    score: float
    box: tuple[float, float, float, float]


class _Bundle:
    def __init__(self, model: Any, processor: Any, open_vocabulary: bool) -> None:
        self.model, self.processor, self.open_vocabulary = model, processor, open_vocabulary

    @property
    def components(self) -> dict[str, Any]:
        return {"model": self.model}


class TransformersDetector(Backend):
    uses_gpu = True
    engine = "transformers-detector"
    capabilities = frozenset({Capability.OBJECT_DETECTION})
    default_params = {"threshold": 0.3}

    def __init__(self, name: str, cache: ModelCache | None = None, **options: Any) -> None:
        super().__init__(name, **options)
        self.model_id = str(options.get("model") or "")
        if not self.model_id:
            raise BackendLoadError(name, "options.model is missing", "give a hub id or a local folder of a detector")
        self.threshold = float(options.get("threshold", 0.3))
        self.max_objects = int(options.get("max_objects", 16))
        self.cache = cache or shared_cache()

    def entry(self) -> CachedModel:
        try:
            device = pick_device(self.name, self.options.get("device"))
        except Exception as exc:  # noqa: BLE001
            raise load_failure(self.name, self.model_id, exc) from exc
        return self.cache.get(("transformers-detector", self.model_id, device), lambda: self._load(device))

    def _load(self, device: str) -> _Bundle:
        import transformers as tf

        offline = local_files_only(self.options)
        try:
            config = tf.AutoConfig.from_pretrained(self.model_id, local_files_only=offline)
            open_vocab = config.model_type in OPEN_VOCABULARY
            if open_vocab:
                model = tf.AutoModelForZeroShotObjectDetection.from_pretrained(self.model_id, local_files_only=offline)
                processor = tf.AutoProcessor.from_pretrained(self.model_id, local_files_only=offline)
            else:
                model = tf.AutoModelForObjectDetection.from_pretrained(self.model_id, local_files_only=offline)
                processor = tf.AutoImageProcessor.from_pretrained(self.model_id, local_files_only=offline)
            model = model.to(device).eval()
        except Exception as exc:  # noqa: BLE001
            raise load_failure(self.name, self.model_id, exc) from exc
        return _Bundle(model, processor, open_vocab)

    def detect(self, image: Image.Image, labels: Sequence[str]) -> list[Detection]:
        """Objects of ``labels`` (open vocabulary) or of the model's own classes, most certain first."""
        import torch

        entry = self.entry()
        bundle: _Bundle = entry.value
        image = image.convert("RGB")
        size = [(image.height, image.width)]
        labels = list(dict.fromkeys(labels))

        def work() -> list[Detection]:
            with entry.lock, torch.inference_mode():
                model = bundle.model
                if bundle.open_vocabulary:
                    queries = [[f"a photo of a {label}" for label in labels]]
                    inputs = bundle.processor(text=queries, images=image, return_tensors="pt").to(model.device)
                    out = model(**inputs)
                    res = bundle.processor.post_process_grounded_object_detection(
                        out, threshold=self.threshold, target_sizes=size)[0]
                    names = [labels[int(i)] for i in res["labels"]]
                else:
                    inputs = bundle.processor(images=image, return_tensors="pt").to(model.device)
                    out = model(**inputs)
                    res = bundle.processor.post_process_object_detection(
                        out, threshold=self.threshold, target_sizes=size)[0]
                    names = [model.config.id2label.get(int(i), str(int(i))) for i in res["labels"]]
            found = [Detection(n, float(s), tuple(float(v) for v in b))
                     for n, s, b in zip(names, res["scores"].tolist(), res["boxes"].tolist())]
            return sorted(found, key=lambda d: -d.score)

        start = time.perf_counter()
        try:
            found = run_gpu_task(work, duration=30)
        except Exception as exc:  # noqa: BLE001
            raise run_failure(self.name, exc) from exc
        self.last_latency_s = time.perf_counter() - start
        per: dict[str, int] = {}
        kept = []
        for d in found:
            per[d.label] = per.get(d.label, 0) + 1
            if per[d.label] <= self.max_objects:
                kept.append(d)
        return kept
