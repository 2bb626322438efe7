"""The meta-prompts sent to a chat model, rendered per row so the preview shows exactly what is sent.

Where a paper prints its meta-prompt (ShareGPT-4o-Image Appendix C.1 image-first captioning, C.2 the
document visual-template prompt, C.3 the image-description instruction) the text below paraphrases it
faithfully; where a paper only describes the step (attribute composition §2.1, document content
generation D.1, OpenGPT-4o-Image edit-instruction generation §3.4) the wording is the studio's own,
following that description. Each function returns chat messages as [{"role", "content"}].
"""
from __future__ import annotations

from typing import Any

CORE_DOCUMENT_CATEGORIES = ("Slide", "Paper", "Document", "Infographic/Chart", "Poster")

COMPOSE_SYSTEM = (
    "You turn structured attributes into one text-to-image prompt. Use every attribute you are given, "
    "keep each object, relation, count, color and quoted text exactly as given, and write a single "
    "fluent, natural English description of the picture. Output only the prompt: no preamble, no "
    "explanations, no lists, no quotation marks around it."
)

# ShareGPT-4o-Image, Appendix C.1 (paraphrased)
IMAGE_FIRST_USER = (
    "Describe the main content of this image in a single sentence. The sentence will be used as a "
    "prompt to generate the image again, so it must capture the key visual information clearly. "
    "Reply with the sentence only, nothing else."
)

# ShareGPT-4o-Image, Appendix C.3 (paraphrased; the two example sentences are the studio's own)
IMAGE_TEXT_SYSTEM = (
    "You are an assistant that writes one concise, complete and descriptive English sentence to be "
    "used as an image-generation prompt. The sentence should capture the essence, mood and key visual "
    "elements of the given image. If a 'Base Task' is given, weave it naturally into the sentence, but "
    "a well-formed, evocative sentence about the image matters more than following the task rigidly: "
    "if the task does not fit, describe the image itself. Output ONLY that one sentence: no "
    "explanations, no preamble, no bullet points or numbered lists. Two illustrations of the kind of "
    "sentence wanted: a harbour at dawn with the task 'add a boat' could become 'A small red fishing "
    "boat drifts over the still harbour as the first light warms the water.'; a close portrait with "
    "the task 'put her in space' could become 'Her calm face glows against a deep field of stars and "
    "violet nebulae.'"
)

DOCUMENT_CONTENT_SYSTEM = (
    "You are a document content writer. For the given document category and theme, write plausible "
    "content for one page of that document: a title, short section headings or bullet points, and "
    "any figures or data snippets it would carry. Be concise and realistic. Output the content only."
)

EDIT_INSTRUCTION_SYSTEM = (
    "You write image-editing instructions. You are given a source image (or its description), an "
    "editing type with its definition, and examples of instructions of that type. Write ONE new "
    "instruction of that type that fits the content of this source image: concrete, unambiguous and "
    "executable by an image editor, naming the objects it changes. Output only the instruction."
)


#: What each meta-prompt follows, shown next to it in the preview (paper text, or the studio's reading)
SOURCES = {
    "compose": "studio wording: ShareGPT-4o-Image §2.1 describes composing the sampled attributes with an "
               "LLM but prints no prompt for it",
    "image-first": "ShareGPT-4o-Image Appendix C.1, paraphrased. Studio variant in batches: it captions the "
                   "studio's own rendered draft, where §2.1 captions real photographs (ALLaVA); the upload "
                   "under Image-first matches the paper",
    "document": "step 1: studio wording after Appendix D.1 (content first); step 2: Appendix C.2, paraphrased, "
                "with the core category fixed by the taxonomy node (studio) and the sampled font",
    "edit-instruction": "studio wording after OpenGPT-4o-Image §3.4 (original image, editing type and "
                        "in-context examples go to the LLM)",
    "edit-instruction:sharegpt4o": (
        "studio reading: ShareGPT-4o-Image §2.2 says the LLM writes an editing instruction from the source "
        "image and the sampled task, and points to Appendix C.3 for the meta-prompt; but C.3 as printed asks "
        "for one descriptive sentence about the image with an optional 'Base Task', not an instruction. "
        "The studio follows §2.2 and uses its instruction prompt (OpenGPT-4o-Image §3.4 style) with §2.2's "
        "inputs; C.3 is used where it fits, for captioning an uploaded image with a base task"),
}


def source_of(kind: str | None, taxonomy_id: str) -> str:
    """Which paper text (or studio reading) a row's meta-prompt follows."""
    if kind == "edit-instruction" and taxonomy_id.startswith("sharegpt4o/"):
        return SOURCES["edit-instruction:sharegpt4o"]
    return SOURCES.get(kind or "", "")


def _msgs(system: str, user: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def compose_prompt(node_title: str, definition: str, attributes: dict[str, Any], draft: str) -> list[dict[str, str]]:
    """Attributes -> one natural-language text-to-image prompt (prompt-first pipeline)."""
    lines = [f"Subtask: {node_title} — {definition}".strip(), "Attributes:"]
    for key, value in attributes.items():
        if key in ("presentation_format", "modifiers", "operations", "combination"):
            continue
        if isinstance(value, dict):
            value = f"{value.get('value')} ({value.get('sub_dimension', '').replace('_', ' ')})"
        elif isinstance(value, list):
            value = ", ".join(
                ", ".join(f"{k}={v}" for k, v in item.items()) if isinstance(item, dict) else str(item)
                for item in value)
        lines.append(f"- {key}: {value}")
    lines.append(f"A plain draft that uses all of them: {draft}")
    lines.append("Write the final prompt.")
    return _msgs(COMPOSE_SYSTEM, "\n".join(lines))


def image_first_caption(base_task: str | None = None) -> list[dict[str, str]]:
    """Caption an uploaded or generated image into a regeneration prompt (C.1, or C.3 with a task)."""
    if base_task:
        return _msgs(IMAGE_TEXT_SYSTEM, f"Base Task: {base_task}\n[the image is attached]")
    return [{"role": "user", "content": IMAGE_FIRST_USER + "\n[the image is attached]"}]


def document_content(category: str, theme: str, specific: str) -> list[dict[str, str]]:
    """Step 1 of the document pipeline: the document's textual and structural content."""
    user = (
        f"Document category: {category}\nSpecific document: {specific}\nTheme: {theme}\n"
        "Write its content."
    )
    return _msgs(DOCUMENT_CONTENT_SYSTEM, user)


def document_visual_prompt(theme: str, font: str, content: str = "{content from step 1}", *,
                           category: str, specific: str = "") -> list[dict[str, str]]:
    """Step 2 of the document pipeline (Appendix C.2, paraphrased): the visual-template prompt.

    Studio adaptation: C.2 lets the LLM pick the core category from the theme; here the taxonomy node
    has already fixed it (and step 1 wrote content for it), so the prompt hands the category over and
    the label and the prompt cannot disagree.
    """
    hint = f' (the content was written for "{specific}")' if specific else ""
    user = f"""You are an expert document concept designer and text-to-image prompt writer. Your concepts are clear, professional and fit their intended use.

Do these steps IN ORDER.

STEP 1 - Theme and category
- Theme: "{theme}"
- Core document category (fixed, do not change it): {category}
- From that category and the theme, state a MORE SPECIFIC document type or application{hint} (for example "Slide - title slide for a tech conference").

STEP 2 - Font and visual style
- Use this font style: "{font}"
- Decide which visual style best fits the specific document type and theme. Clarity, professionalism and function come first.
- Avoid ornate or needlessly complex styles unless the theme truly calls for them (e.g. recreating a historical document); avoid generic "old parchment" looks for modern professional documents.
- The visual style must serve the content and the purpose of the document.

STEP 3 - The visual-template prompt
- Write ONE text-to-image prompt in English for a visual template, based on the theme and the specific document type, in a style that is appropriate, clear and professional.
- Describe: the overall aesthetic, the layout and composition, the color palette, textures (if any), and placeholder elements suited to the document type (e.g. placeholders for a large title, a speaker name and a logo on a title slide).
- Do NOT put specific readable text in the prompt. The prompt is one coherent sentence.

The document's content, for reference:
{content}

STEP 4 - Output, exactly these three lines:
Visual Template Prompt: [the prompt from STEP 3]
Conceived Theme: [the theme you worked from]
Document Type: [the core category from STEP 1 followed by the specific type]

Now follow these steps and produce a new set."""
    return [{"role": "user", "content": user}]


def edit_instruction(edit_type: str, definition: str, examples: list[str], source: str,
                     rounds: int = 1) -> list[dict[str, str]]:
    """OpenGPT-4o-Image instruction generation: source image + edit type + in-context examples."""
    ex = "\n".join(f"- {e}" for e in examples)
    ask = (
        "Write the instruction." if rounds <= 1 else
        f"Write a multi-turn editing script of exactly {rounds} rounds: {rounds} lines, one simple "
        "instruction per line, each building on the result of the previous round. No numbering."
    )
    user = (
        f"Editing type: {edit_type} — {definition}\nExamples of this type:\n{ex}\n"
        f"Source image: [attached] {source}\n{ask}"
    )
    return _msgs(EDIT_INSTRUCTION_SYSTEM, user)
