"""The six modes of the Reason tab, after the UnifiedVisual-240K subsets."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mode:
    """What a mode needs from the user and how many image parts its rationale may hold."""

    id: str
    title: str
    #: the UnifiedVisual-240K subset a run of this mode exports as
    subset: str
    needs_input_image: bool
    #: fixed number of image parts (None: the user's "at most N" setting applies)
    fixed_images: int | None
    hint: str


MODES: dict[str, Mode] = {
    m.id: m
    for m in (
        Mode("implicit", "1. Implicit-prompt generation", "Image_Generation", False, 1,
             "Describe the subject without naming it; the rationale works out what to draw."),
        Mode("mm_text", "2. MM Reasoning (T): text question", "MMReasoning_T", False, None,
             "A text question (e.g. multiple choice) answered with generated images as reasoning aids."),
        Mode("mm_image", "3. MM Reasoning (MM): image + question", "MMReasoning_MM", True, None,
             "Upload an image and ask about it; the rationale adds new images."),
        Mode("mm_regions", "4. MM Reasoning (O): regions of the image", "MMReasoning_O", True, None,
             "Upload an image; the rationale points at regions, shown as snapshots cropped from it."),
        Mode("correction", "5. Image correction", "Image_Correction", False, None,
             "Generate, let a vision-language critic list mismatches, regenerate until it finds none."),
        Mode("edit", "6. Editing with rationale", "Image_Editing", True, 1,
             "Upload an image and state a goal; the rationale plans the concrete edit, then it is applied."),
    )
}

#: the paper's templates allow 2 (MM) or 3 (T) image descriptions; the studio lets a user pick 1–3
MAX_IMAGES_LIMIT = 3
DEFAULT_MAX_IMAGES = 3
#: bound on critique-and-regenerate rounds in image correction
MAX_ROUNDS_LIMIT = 5
DEFAULT_MAX_ROUNDS = 3


def get_mode(mode_id: str) -> Mode:
    """The mode called ``mode_id``; ValueError naming the known ones otherwise."""
    try:
        return MODES[mode_id]
    except KeyError:
        raise ValueError(f"unknown mode {mode_id!r}; modes: {', '.join(MODES)}") from None
