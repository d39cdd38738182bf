"""The booth's votes as preference data: one JSON Lines row per decided battle, in the standard
(non-conversational) preference format TRL's trainers read — `prompt`, `chosen`, `rejected` —
plus where the pair came from (`battle_id`, `model_chosen`, `model_rejected`, `voted_at`).

`prompt` is the 前句 rendered in the prompt template of the model that is to be tuned (the
template a run saved, or one named), so the pairs train that model on the prompts it is served
with; `chosen` / `rejected` are the two 付句 in the template's target form (the verse, then the
template's end marker; TRL appends the tokenizer's eos, as SFT does). A battle answers one 前句
with no chain before it, so the context is empty. Ties and both_bad say nothing about which
answer is better and are left out.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tsukeku.arena.store import ArenaStore, Battle
from tsukeku.errors import InputError
from tsukeku.prompts import PromptTemplate

DECISIVE = {"a": ("a", "b"), "b": ("b", "a")}  # winner → (chosen side, rejected side)


@dataclass
class ExportCounts:
    written: int = 0
    undecided: int = 0  # tie / both_bad
    unusable: int = 0  # a battle gone (pruned) or an answer without text

    def to_dict(self) -> dict[str, int]:
        return {"written": self.written, "undecided": self.undecided, "unusable": self.unusable}


def answer_form(battle: Battle) -> str:
    """The 付句's form the battle was composed in: the other form of its 前句 (as the composer
    decides it), else the form of the answers' ku."""
    from tsukeku.generation.candidates import target_form

    try:
        return target_form("auto", battle.previous)[0]
    except InputError:
        ku = len(battle.answer_a.get("ku_morae") or ())
        if ku in (2, 3):
            return "7-7" if ku == 2 else "5-7-5"
        raise


def preference_row(battle: Battle, winner: str, voted_at: str,
                   template: PromptTemplate) -> dict[str, Any]:
    """One decided battle as a preference row (`winner` "a" or "b")."""
    chosen_side, rejected_side = DECISIVE[winner]
    answers = {"a": battle.answer_a, "b": battle.answer_b}
    models = {"a": battle.model_a, "b": battle.model_b}
    return {
        "prompt": template.render(battle.previous, answer_form(battle), ()),
        "chosen": template.target(answers[chosen_side]["text"]),
        "rejected": template.target(answers[rejected_side]["text"]),
        "previous": battle.previous,
        "model_chosen": models[chosen_side],
        "model_rejected": models[rejected_side],
        "voted_at": voted_at,
        "battle_id": battle.id,
        "source": "arena",
        "synthetic": False,
    }


def preference_rows(store: ArenaStore, template: PromptTemplate,
                    counts: ExportCounts | None = None) -> Iterator[dict[str, Any]]:
    """Every decided vote of `store`, oldest first, as preference rows."""
    counts = counts if counts is not None else ExportCounts()
    votes = store.votes()
    # Read after the votes: a voted battle is never pruned, so each vote finds its battle here.
    battles = {battle.id: battle for battle in store.battles()}
    for vote in votes:
        if vote.winner not in DECISIVE:
            counts.undecided += 1
            continue
        try:
            battle = battles[vote.battle_id]
            row = preference_row(battle, vote.winner, vote.created_at, template)
        except (InputError, KeyError):
            counts.unusable += 1
            continue
        counts.written += 1
        yield row


def export_preferences(store: ArenaStore, template: PromptTemplate,
                       out: str | os.PathLike) -> ExportCounts:
    """Writes the decided votes as preference JSON Lines to `out` (atomically)."""
    from tsukeku.io import write_jsonl_atomic

    counts = ExportCounts()
    write_jsonl_atomic(Path(out), list(preference_rows(store, template, counts)))
    return counts


def template_for(name: str | None = None, run: str | os.PathLike | None = None) -> PromptTemplate:
    """The template of the model to be tuned: a run's (its prompt.json, and its tokenizer for a
    chat template) or one named (completion, instruction, instruction-rinna)."""
    from tsukeku.prompts import get_template

    if (name is None) == (run is None):
        raise InputError("give the prompt template of the model to tune: --template NAME or "
                         "--run DIR (a training run, whose prompt.json is used)")
    if name is not None:
        return get_template(name)
    run_dir = Path(run)
    if not (run_dir / "prompt.json").is_file():
        raise InputError(f"{run_dir} has no prompt.json; give a completed training run "
                         "directory or --template NAME")
    tokenizer = None
    if PromptTemplate.load(run_dir).name == "chat" and (run_dir / "tokenizer").is_dir():
        from transformers import AutoTokenizer  # a chat template renders through its tokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(run_dir / "tokenizer"))
    return PromptTemplate.load(run_dir, tokenizer=tokenizer)
