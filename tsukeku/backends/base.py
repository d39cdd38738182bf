"""What every remote backend shares: the error type, the Japanese instruction, and turning the
texts a remote model wrote into checked, ranked candidates.

Remote models cannot be constrained token by token (we do not see their logits as they
decode): they sample several candidates, and our own form check filters and ranks them. Each
result says so in `notes`. For a seat of a renga session (`ComposeRequest.seat`) the prompt
names the seat and the candidates are filtered by the seat's checks, round after round
(`tsukeku.generation.seat_compose.filter_for_seat`), as the local composer's are.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from tsukeku.errors import TsukekuError
from tsukeku.generation.candidates import Checked, make_candidate, rank, target_form
from tsukeku.generation.rerank import Reranker
from tsukeku.generation.types import ComposeRequest, CompositionResult
from tsukeku.prompts import SeatHint

if TYPE_CHECKING:
    from tsukeku.generation.seat_compose import SeatJob

MAX_REMOTE_SAMPLES = 16
FORM_WORDS = {"5-7-5": "長句（五・七・五の三句）", "7-7": "短句（七・七の二句）"}

SYSTEM_PROMPT = (
    "あなたは連歌の連衆です。前句に付ける付句を詠みます。"
    "付句は指定された形（長句は五・七・五、短句は七・七の音数）を厳密に守り、"
    "句と句の間は半角空白一つで区切ります。前句の言葉をそのまま繰り返さず、"
    "季節や情景を受けつつ新しい景色へ転じてください。"
    "答えには付句だけを書き、説明・番号・括弧・読み仮名は書かないでください。"
)


class BackendError(TsukekuError):
    """A remote model service failed or answered something unusable."""


def user_prompt(previous: str, form: str, context: Sequence[str] = (), count: int = 1,
                seat: Any = None) -> str:
    """The user turn for chat models: the 前句 (and earlier verses), the seat when composing for
    one (its season and topics, as the prompt templates say it), the form, how many."""
    lines: list[str] = []
    if context:
        lines.append("これまでの句：")
        lines.extend(context)
        lines.append("")
    lines.append(f"前句：{previous}")
    hint = SeatHint.of(seat)
    if hint is not None:
        lines.append(hint.instruction())
    lines.append(f"この前句に付ける{FORM_WORDS[form]}の付句を"
                 + ("一つ" if count == 1 else f"{count}つ、一行に一句ずつ") + "詠んでください。")
    return "\n".join(lines)


_NUMBERING = re.compile(r"^\s*(?:[0-9０-９]+[.)．、）:：]|[-*・•]|[（(][0-9０-９]+[)）])\s*")
_LABEL = re.compile(r"^\s*(?:付句|答え?|回答)\s*[:：]\s*")


def split_lines(text: str) -> list[str]:
    """Candidate verses out of a chat answer: one per line, numbering and labels removed."""
    out = []
    for line in text.splitlines():
        line = _LABEL.sub("", _NUMBERING.sub("", line)).strip()
        line = line.strip("「」『』\"'“”")
        if line and not line.startswith(("前句", "これまで")):
            out.append(line)
    return out


def samples_for(request: ComposeRequest, oversample: float) -> int:
    return min(MAX_REMOTE_SAMPLES, max(request.n, math.ceil(request.n * oversample)))


@dataclass
class Prepared:
    """A request made ready for a remote model: the form, the 前句 spaced, the context, and
    the seat when composing for one (its form is then the seat's)."""

    request: ComposeRequest
    form: str
    previous: str
    context: list[str]
    job: SeatJob | None = None

    @property
    def seat(self) -> Any:
        """The `tsukeku.renga.seat.Seat` to compose for (a template's `render(seat=)`), or None."""
        return self.job.seat if self.job is not None else None


def prepare(request: ComposeRequest) -> Prepared:
    chain = request.chain
    if not chain or not all(isinstance(v, str) for v in chain):
        from tsukeku.errors import InputError

        raise InputError("previous must be a verse (text) or a list of verses")
    job = _seat_job(request)
    form, spaced = target_form(job.form if job is not None else request.form, chain[-1])
    context = [" ".join(v.split()) for v in chain[-3:-1] if v.strip()]
    return Prepared(request, form, spaced, context, job)


def _seat_job(request: ComposeRequest) -> SeatJob | None:
    if request.seat is None and getattr(request, "_seat_job", None) is None:
        return None  # no seat: the rule checker (and its imports) stay out of plain composing
    from tsukeku.generation.seat_compose import resolve

    return resolve(request)


def result_from_texts(prepared: Prepared, texts: Sequence[str], *, model: str,
                      reranker: Reranker, started: float, notes: Sequence[str] = (),
                      logprobs: Sequence[float | None] | None = None,
                      token_counts: Sequence[int] | None = None) -> CompositionResult:
    """Checks every text with our form checker, ranks, and filters when the request asked
    for the form (`constrained`): candidates of the form first; only when none has it are
    the closest returned, flagged ok=False."""
    req = prepared.request
    checked: list[Checked] = []
    for i, text in enumerate(texts):
        lp = logprobs[i] if logprobs is not None else None
        checked.append(make_candidate(
            text, prepared.form, previous=prepared.previous, reranker=reranker, logprob=lp,
            n_tokens=token_counts[i] if token_counts is not None else 0, jiamari=req.jiamari,
        ))
    good = sum(c.acceptable for c in checked)
    out_notes = list(notes)
    out_notes.append(
        "remote model: decoding cannot be constrained token by token; "
        f"{len(texts)} candidate(s) sampled, {good} of the form {prepared.form} by our check"
    )
    if req.constrained:
        candidates = rank(checked, req.n, only_acceptable=True)
        if not candidates:
            candidates = rank(checked, req.n, only_acceptable=False)
            if candidates:
                out_notes.append("none had the form: the closest are shown, marked ok=false")
        else:
            out_notes.append("candidates that break the form were filtered out")
    else:
        candidates = rank(checked, req.n, only_acceptable=False)
    return CompositionResult(
        previous=req.previous, form=prepared.form, candidates=candidates, model=model,
        constrained=False, notes=out_notes,
        latency_ms=round((time.perf_counter() - started) * 1000, 1),
    )


class RemoteBackend:
    """Base of the remote backends: `compose_many` answers requests one after another (the
    remote service batches on its side). A subclass implements `sample` (one round: the prompt,
    the seat's included, sent, the answers checked by form); `compose` adds the seat's filter."""

    name: str = "remote"
    supports_constraints = False
    composes_for_seats = True  # compose() honours ComposeRequest.seat (seat_compose.compose_for_seat)
    seat_rounds = 4  # sampling rounds for a seat before fewer candidates than asked come back

    def compose(self, request: ComposeRequest) -> CompositionResult:
        """Candidates for the request. For a seat: sampled with the seat in the prompt and kept
        only when they pass the seat's checks (filter_for_seat), as many rounds as needed."""
        if _seat_job(request) is None:
            return self.sample(request)
        from tsukeku.generation.seat_compose import filter_for_seat

        # filter_for_seat asks its backend's `compose` for each round: here, one plain sample
        return filter_for_seat(SimpleNamespace(compose=self.sample), request, self.seat_rounds)

    def sample(self, request: ComposeRequest) -> CompositionResult:
        """One round of candidates, checked by form only."""
        raise NotImplementedError

    def compose_many(self, requests: list[ComposeRequest]) -> list[CompositionResult]:
        return [self.compose(r) for r in requests]


def guarded(service: str, call: Callable[[], object], translate: Callable[[Exception], str | None]
            ) -> object:
    """Runs a client call; an exception of the client library becomes a BackendError with a
    clear message (`translate` returns None for exceptions that are ours to re-raise)."""
    try:
        return call()
    except TsukekuError:
        raise
    except Exception as err:  # noqa: BLE001 - each client library has its own hierarchy
        message = translate(err)
        if message is None:
            raise
        raise BackendError(f"{service}: {message}") from err
