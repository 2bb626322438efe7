"""System prompts for the reasoner and the critic, adapted from UnifiedVisual Appendix F.

The paper's templates build training data (they hand the model the correct answer or the edited
image); here they run at inference time, so each keeps the paper's constraints on the rationale
(interleaved ``[image: description]`` parts, a small maximum, concise visualisable descriptions)
and drops what the studio cannot know in advance. Every template ends by fixing the markup the
parser in :mod:`studio.reasoning.interleaved` reads.
"""
from __future__ import annotations

from string import Template

#: Table 8 (implicit-prompt generation), turned around: answer an indirect request
IMPLICIT = Template(
    """You will be given a request for an image that describes its subject only indirectly, through \
related facts, places or cultural references, without naming it.
Write a short rationale that explains the logical connection between the clues and the subject, and end \
the rationale by stating what image should be produced.
Then, on the last line, write exactly one image part of the form [image: description], where the \
description names the subject explicitly and says concisely what the image shows.
Do not write more than one [image: ...] part. Just return the rationale and the image part."""
)

#: Table 7: turn a rationale into the input for an image generator
TO_IMAGE_PROMPT = Template(
    """Based on the given text, first work out what image needs to be generated, then write it as an \
input for a text-to-image model. Return only that input, nothing else.

Text:
$thought

Input for the text-to-image model:"""
)

#: Table 16 (MM Reasoning (T)) without the given answer
MM_TEXT = Template(
    """You will be given a question, often with multiple-choice options. Analyse and answer it step by step: \
give the rationale first and the answer last.
The rationale must interleave text with image descriptions; the descriptions and the text must complement \
each other to form a coherent, rigorous chain of reasoning that leads to the correct answer.
Image descriptions are written in the form [image: description].
Use no more than $max_images image descriptions. Each description shows the content of only one option, \
is concise and clear, and is easy to convey visually.
Finish with a line of the form "Final answer: <answer>". Just return the rationale and that line."""
)

#: Table 14 (MM Reasoning (MM))
MM_IMAGE = Template(
    """You will be given an image and a question. Analyse the image and answer the question step by step.
The rationale must interleave text with image descriptions; the descriptions and the text must complement \
each other to form a coherent, rigorous chain of reasoning that leads to the correct answer.
Image descriptions are written in the form [image: description]. Use at most $max_images of them; keep \
them simple and concise, and do not describe something close to the given image itself.
Finish with a line of the form "Final answer: <answer>". Just return the rationale and that line."""
)

#: MM Reasoning (O): snapshots of regions of the original image instead of new images
MM_REGIONS = Template(
    """You will be given an image and a question whose answer depends on details in specific regions of the \
image. Answer step by step: first list the steps needed to find the answer, then point to the region(s) of \
the image that matter, then conclude.
Point to a region with a part of the form [crop: x1, y1, x2, y2], where the numbers are fractions of the \
image width and height between 0 and 1 (x1, y1 top-left; x2, y2 bottom-right). Use at most $max_images \
crop parts.
Finish with a line of the form "Final answer: <answer>". Just return the rationale and that line."""
)

#: Table 12 (image correction) plus a verdict line so the loop knows when to stop
CRITIQUE = Template(
    """You are a professional image analysis expert. You are given an image generation requirement and an \
image generated from it.
First, carefully check the image against every element of the requirement (objects, counts, colours, \
positions, background, text).
If the image fully meets the requirement, reply with the single line "VERDICT: MATCH" and nothing else.
Otherwise start with the line "VERDICT: MISMATCH", list the inconsistencies, explain in detail how to adjust \
the image so that it fully meets the requirement, close with one sentence saying that a new image meeting \
every requirement will now be generated from these adjustments, and then, on the last line, give the full \
corrected description for the generator as [image: description].

Image generation requirement: $requirement"""
)

#: Tables 9–10 (image editing): a goal phrased indirectly, planned into a concrete edit
EDIT = Template(
    """You will be given an image and a request that states a goal for it rather than a concrete edit (for \
example "how can the patio feel serene and unoccupied?").
Write a short rationale that works out which concrete change to the image achieves the goal: what to add, \
remove or modify, and what to keep.
Then, on the last line, write exactly one part of the form [image: instruction], where the instruction is \
the concrete edit to apply to the given image, in one imperative sentence.
Do not write more than one [image: ...] part. Just return the rationale and the edit part."""
)


def system_prompt(mode: str, *, max_images: int) -> str:
    """The reasoner's system prompt for a mode (not the critic's; see :data:`CRITIQUE`).

    ``max_images`` is capped by the mode's paper bound (MM: 2, T: 3), so the prompt never allows more.
    """
    from studio.reasoning.modes import get_mode

    max_images = get_mode(mode).image_limit(max_images)
    table = {
        "implicit": IMPLICIT,
        "mm_text": MM_TEXT,
        "mm_image": MM_IMAGE,
        "mm_regions": MM_REGIONS,
        "edit": EDIT,
    }
    return table[mode].substitute(max_images=max_images)
