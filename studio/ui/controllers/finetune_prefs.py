"""The Fine-tune tab's "Preference pairs from a comparison batch" panel: preview and build a pairs folder.

Each method takes the panel's values, makes one call into studio.preferences.build and returns
component updates. Build writes only under the studio's data folder (the user names no path) and
points the tab's dataset fields at what it wrote, so Launch trains on it.
"""
from __future__ import annotations

import gradio as gr
import pandas as pd

from studio.markup import md_text

PICK_BATCH = "Pick a comparison batch first."
NODE_COLUMNS = ["taxonomy node", "pairs"]


class PrefsController:
    def __init__(self, studio) -> None:
        self.studio = studio

    def batches(self):
        """The comparison batches, newest first (on page load and when the list is opened)."""
        from studio.annotation.service import list_batches

        return gr.update(choices=[(f"{b.name} · {b.votes} votes", b.id) for b in list_batches(self.studio)])

    def sources(self, batch):
        """Whose votes may count for ``batch``: people, each judge that voted on it, people with that judge."""
        from studio.judges import JudgeError
        from studio.judges.arena import judges_of

        try:
            judges = judges_of(self.studio, batch) if batch else []
        except JudgeError:  # the batch was deleted meanwhile
            judges = []
        choices = [("people", "human")] + [(f"judge {j}", f"judge:{j}") for j in judges]
        choices += [(f"people + {j}", f"both:{j}") for j in judges]
        return gr.update(choices=choices, value="human")

    def _nodes(self, result) -> pd.DataFrame:
        return pd.DataFrame(result.by_taxonomy.most_common(), columns=NODE_COLUMNS)

    def _refused(self, message, n_outputs: int):
        gr.Warning(str(message).splitlines()[0])
        return (f"⚠️ {md_text(message)}", pd.DataFrame(columns=NODE_COLUMNS)) + (gr.update(),) * n_outputs

    def preview(self, batch, source, keep_ties):
        """The counts and the pairs per taxonomy node, writing nothing."""
        from studio.annotation import AnnotationError
        from studio.preferences.build import PreferenceError, build_preferences

        if not batch:
            return self._refused(PICK_BATCH, 0)
        try:
            result = build_preferences(self.studio, batch, source=source or "human", keep_ties=bool(keep_ties))
        except (AnnotationError, PreferenceError) as exc:
            return self._refused(exc, 0)
        return result.summary_markdown(), self._nodes(result)

    def build(self, batch, source, keep_ties):
        """Write the pairs folder and select it as the tab's dataset (source "preferences", its path)."""
        from studio.annotation import AnnotationError
        from studio.preferences.build import PreferenceError, build_pairs_folder
        from studio.preferences.pickapic import PairFileError

        if not batch:
            return self._refused(PICK_BATCH, 2)
        try:
            result, folder = build_pairs_folder(self.studio, batch, source=source or "human",
                                                keep_ties=bool(keep_ties))
        except (AnnotationError, PreferenceError, PairFileError) as exc:
            return self._refused(exc, 2)
        rows = len(result.pairs)
        note = (f"✅ Wrote {rows} rows to {md_text(folder)} and chose it as the dataset above; pick a "
                "preference task (Diffusion-DPO or winner SFT) and Launch.\n\n" + result.summary_markdown())
        return note, self._nodes(result), "preferences", str(folder)
