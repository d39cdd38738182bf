"""The session service: a renga session (座) over the store's `SessionStore` — create, whose turn,
post a verse (form and rules checked), the host's (宗匠's) actions, and models' turns.

Who may do what:
- the join token (given to everyone at the table) lets a visitor join and post as a person of
  the session; the host token (the 宗匠's) also lets its holder post for any person, accept a verse
  that breaks a rule (`accept` names the rule ids), take back the last verse and end the session;
- in a rotation the next seat belongs to one participant; in 出勝 (`degachi`) any person may post
  and a model composes when asked.

A verse that breaks an error-level rule (or its 5-7-5 / 7-7 form) is refused with `RuleBroken`
unless the host accepts those rules. A model's verse is the best of its candidates (fewest
errors, then warnings, then the model's own ranking); what it still breaks stands accepted on the
host's standing behalf, recorded in the verse's `accepted` — the 宗匠 can take it back.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

from tsukeku.generation.types import MAX_VERSE_CHARS, ComposeRequest, CompositionResult
from tsukeku.prompts import clean_verse
from tsukeku.renga.profiles import FORM_PROFILES, load_profile, profile_names
from tsukeku.sessions.errors import (
    BadSessionInput,
    Forbidden,
    LimitReached,
    ModelTurnFailed,
    NameTaken,
    NotYourTurn,
    RuleBroken,
    SeatTaken,
    SessionOver,
)
from tsukeku.sessions.rules import Evaluation, chain_violations, evaluate
from tsukeku.sessions.turns import FORMS, profile_of, seat_info, whose_turn
from tsukeku.store.errors import SeatConflict

log = logging.getLogger("tsukeku.sessions")

ComposeFn = Callable[[str, ComposeRequest], Awaitable[CompositionResult]]
TURN_ORDERS = ("rotation", "degachi")


@dataclass(frozen=True)
class SessionLimits:
    max_open_sessions: int = 50
    max_participants: int = 8
    max_verse_chars: int = MAX_VERSE_CHARS
    max_name_chars: int = 40
    max_title_chars: int = 80
    model_candidates: int = 4  # per attempt
    model_attempts: int = 2  # rounds of candidates before the least-bad one is taken
    context_verses: int = 10  # the chain's last verses a model sees
    retry_after_s: float = 5.0  # a failed model turn is tried again after this


class SessionService:
    """`store` is the store's SessionStore (`store.sessions`); `compose(model, request)` composes
    for a model participant (the server's ComposeService, or a registry's backend); `models` are
    the model names a session may seat (None: any)."""

    def __init__(self, store: Any, compose: ComposeFn | None = None, *,
                 models: Collection[str] | None = None, events: Any = None,
                 limits: SessionLimits | None = None) -> None:
        self.store = store
        self.events = events  # the store's EventBus (live screens), when given
        self.closing = False
        self.compose_fn = compose
        self.models = models
        self.limits = limits or SessionLimits()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._failed: dict[str, tuple[float, str]] = {}  # session → (when, why) of a model turn

    # -- creating and joining ----------------------------------------------------------------

    def create(self, *, title: str, form: str, participants: Sequence[dict[str, Any]],
               profile: str | None = None, turn_order: str = "rotation",
               models: Collection[str] | None = None) -> Any:
        """A new open session. `participants`: dicts with `name`, `kind` (human/model), `model`
        (for models; the name defaults to it) and optionally `is_host`; without one, the first
        person is the host. `models` (default: the service's) are the models it may seat."""
        lim = self.limits
        known = self.models if models is None else models
        if form not in FORMS:
            raise BadSessionInput(f"form {form!r}: choose 歌仙 or 半歌仙")
        if turn_order not in TURN_ORDERS:
            raise BadSessionInput(f"turn order {turn_order!r}: choose rotation or degachi (出勝)")
        if profile and profile not in (*profile_names(), *FORM_PROFILES):
            # Names only: a path would let a visitor make the server read a file.
            raise BadSessionInput(f"rule profile {profile!r}: choose one of "
                                  f"{', '.join(profile_names())}")
        prof = load_profile(profile or FORM_PROFILES[form])
        if prof.form != form:
            raise BadSessionInput(f"rule profile {prof.name!r} is for a {prof.form}, not a {form}")
        title = clean_verse(title or "") or f"{form}の座"
        if len(title) > lim.max_title_chars:
            raise LimitReached(f"the title is longer than {lim.max_title_chars} characters")
        if not participants:
            raise BadSessionInput("seat at least one participant (a person or a model)")
        if len(participants) > lim.max_participants:
            raise LimitReached(f"at most {lim.max_participants} participants per session")
        people = [self._participant(p, known) for p in participants]
        names = [p["name"] for p in people]
        if len(set(names)) != len(names):
            raise NameTaken("two participants have the same name; give each a different name")
        if not any(p["is_host"] for p in people):
            first_human = next((p for p in people if p["kind"] == "human"), None)
            if first_human is not None:
                first_human["is_host"] = True
        if self.store.count_sessions("open") >= lim.max_open_sessions:
            raise LimitReached(f"{lim.max_open_sessions} sessions are open; end one (its host "
                               "can) before starting another")
        return self.store.create_session(title=title, form=form, profile=prof.name,
                                         turn_order=turn_order, participants=people)

    def _participant(self, p: dict[str, Any], known: Collection[str] | None) -> dict[str, Any]:
        kind = p.get("kind", "human")
        model = p.get("model") if kind == "model" else None
        if kind not in ("human", "model"):
            raise BadSessionInput(f"participant kind {kind!r}: human or model")
        if kind == "model":
            if not model:
                raise BadSessionInput("a model participant names its model")
            if known is not None and model not in known:
                names = ", ".join(known) or "none"
                raise BadSessionInput(f"unknown model {model!r}; the models here: {names}")
        name = self._name(p.get("name") or model or "")
        return {"name": name, "kind": kind, "model": model, "is_host": bool(p.get("is_host"))}

    def _name(self, name: str) -> str:
        name = clean_verse(name)
        if not name:
            raise BadSessionInput("give a display name")
        if len(name) > self.limits.max_name_chars:
            raise LimitReached(f"a name has at most {self.limits.max_name_chars} characters")
        return name

    def join(self, session_id: str, name: str, token: str) -> Any:
        record = self.store.get_session(session_id)
        self._need(record, token)
        name = self._name(name)
        if any(p.name == name for p in record.participants):
            raise NameTaken(f"{name!r} already sits at this table; choose another name")
        if len(record.participants) >= self.limits.max_participants:
            raise LimitReached(f"at most {self.limits.max_participants} participants per session")
        return self.store.add_participant(session_id, name, "human")

    # -- verses ------------------------------------------------------------------------------

    def check(self, session_id: str, text: str) -> dict[str, Any]:
        """What posting `text` now would meet (the page asks while the visitor types)."""
        record = self.store.get_session(session_id)
        info = seat_info(record)
        if info is None:
            raise NotYourTurn("the chain is complete; no seat is left")
        self._length(text)
        ev = evaluate(record.verses, text, info.kind, profile_of(record))
        return {**ev.to_dict(), "seat": info.to_dict()}

    def post(self, session_id: str, *, text: str, participant_id: int, token: str,
             accept: Collection[str] = (), seat: int | None = None) -> dict[str, Any]:
        """A person's verse for the next seat. `seat`, when given, must be the next seat (a
        screen that is behind gets SeatConflict, 409). Returns the stored verse and what it
        breaks."""
        record = self.store.get_session(session_id)
        host = self._need(record, token)
        self._open(record)
        person = self._person(record, participant_id)
        turn = whose_turn(record)
        if turn is not None and turn.id != person.id and not host:
            raise NotYourTurn(f"it is {turn.name}'s turn (seat {record.next_seat})")
        if accept and not host:
            raise Forbidden("only the host (宗匠) can accept a verse that breaks a rule")
        info = seat_info(record)
        if info is None:
            raise NotYourTurn("the chain is complete; no seat is left")
        if seat is not None and seat != info.seat:
            self._conflict(seat, info.seat)
        self._length(text)
        ev = evaluate(record.verses, text, info.kind, profile_of(record))
        missing = [r for r in ev.errors if r not in set(accept)]
        if missing:
            names = "、".join(v["name"] for v in ev.violations if v["rule"] in missing)
            raise RuleBroken(f"this verse breaks a rule ({names}); change it, or ask the host "
                             "(宗匠) to accept it", [v for v in ev.violations])
        return self._store(record, info.seat, ev, person.name, person.id, ev.errors)

    def _store(self, record: Any, seat: int, ev: Evaluation, author: str,
               participant_id: int | None, accepted: Sequence[str]) -> dict[str, Any]:
        verse = self.store.add_verse(
            record.id, seat=seat, text=ev.text, reading=ev.reading, kind=ev.kind,
            season=ev.season, topics=ev.topics, author=author, participant_id=participant_id,
            accepted=tuple(accepted),
        )
        if seat >= profile_of(record).length:
            self.store.set_status(record.id, "finished")
        return {"verse": verse_dict(verse), "violations": ev.violations}

    # -- the host's actions ------------------------------------------------------------------

    def take_back(self, session_id: str, token: str) -> Any:
        record = self.store.get_session(session_id)
        self._need(record, token, host=True)
        if record.status == "ended":
            raise NotYourTurn("the session has ended; nothing can be taken back")
        verse = self.store.take_back(session_id)
        if record.status == "finished":  # a verse taken back from a full chain reopens it
            self.store.set_status(session_id, "open")
        return verse

    def end(self, session_id: str, token: str) -> None:
        record = self.store.get_session(session_id)
        self._need(record, token, host=True)
        if record.status == "open":
            self.store.set_status(session_id, "ended")

    # -- models' turns -----------------------------------------------------------------------

    async def compose_turn(self, session_id: str, participant_id: int | None = None,
                           token: str | None = None) -> dict[str, Any]:
        """A model composes the next seat: the rotation's model (participant_id None), or in
        出勝 the model a person names (token needed)."""
        record = await asyncio.to_thread(self.store.get_session, session_id)
        self._open(record)
        turn = whose_turn(record)
        if participant_id is None:
            if turn is None or turn.kind != "model":
                raise NotYourTurn("it is not a model's turn")
            model = turn
        else:
            self._need(record, token)
            model = next((p for p in record.participants if p.id == participant_id), None)
            if model is None or model.kind != "model":
                raise BadSessionInput(f"participant {participant_id} is not a model here")
            if turn is not None and turn.id != model.id:
                raise NotYourTurn(f"it is {turn.name}'s turn (seat {record.next_seat})")
        info = seat_info(record)
        if info is None:
            raise NotYourTurn("the chain is complete; no seat is left")
        ev = await self._model_verse(record, model, info)
        return await asyncio.to_thread(self._store, record, info.seat, ev, model.name,
                                       model.id, ev.errors)

    async def _model_verse(self, record: Any, model: Any, info: Any) -> Evaluation:
        if self.compose_fn is None:
            raise ModelTurnFailed("no models are loaded here; a person must take this seat")
        from tsukeku.sessions.compose import pick_verse

        return await pick_verse(self.compose_fn, record, model.model, info, self.limits)

    def advance(self, session_id: str) -> asyncio.Task[None] | None:
        """Starts the models' turns in the background when the rotation has come to a model
        (called after every change and whenever a screen looks, so a restart loses nothing).
        Returns the task taking the models' turns (the one already running, if any), which
        ends when the rotation reaches a person or a model fails; None when none runs (no
        models here, or a failed model waits out `retry_after_s`)."""
        task = self._tasks.get(session_id)
        if task is not None and not task.done():
            return task
        failed = self._failed.get(session_id)
        if failed and time.monotonic() - failed[0] < self.limits.retry_after_s:
            return None
        if self.compose_fn is None:
            return None
        task = asyncio.get_running_loop().create_task(self._models(session_id))
        self._tasks[session_id] = task
        return task

    def composing(self, session_id: str) -> bool:
        task = self._tasks.get(session_id)
        return task is not None and not task.done()

    async def _models(self, session_id: str) -> None:
        while True:
            record = await asyncio.to_thread(self.store.get_session, session_id)
            turn = whose_turn(record)
            if turn is None or turn.kind != "model":
                self._failed.pop(session_id, None)
                return
            try:
                await self.compose_turn(session_id)
            except Exception as err:  # noqa: BLE001 - logged, shown, and retried later
                if isinstance(err, SeatConflict):
                    continue  # another instance took the seat: look again
                log.warning("a model's turn failed", exc_info=True,
                            extra={"session": session_id})
                self._failed[session_id] = (time.monotonic(), str(err))
                return

    async def close(self) -> None:
        self.closing = True
        tasks = [t for t in self._tasks.values() if not t.done()]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def role(self, session_id: str, token: str) -> dict[str, Any]:
        """What a token lets its holder do: `host` (with the host's participant id) or `guest`."""
        record = self.store.get_session(session_id)
        if not self._need(record, token):
            return {"role": "guest", "participant_id": None}
        host = next((p for p in record.participants if p.is_host), None)
        return {"role": "host", "participant_id": host.id if host else None}

    # -- views -------------------------------------------------------------------------------

    def view(self, session_id: str) -> dict[str, Any]:
        """The session as every screen shows it (no tokens)."""
        record = self.store.get_session(session_id)
        prof = profile_of(record)
        info = seat_info(record) if record.status == "open" else None
        turn = whose_turn(record)
        by_seat = chain_violations(record.verses, prof)
        failed = self._failed.get(session_id)
        return {
            "id": record.id,
            "title": record.title,
            "form": record.form,
            "profile": record.profile,
            "length": prof.length,
            "turn_order": record.turn_order,
            "status": record.status,
            "created_at": record.created_at,
            "updated_at": record.updated_at,
            "participants": [participant_dict(p) for p in record.participants],
            "verses": [{**verse_dict(v), "section": prof.section_name(v.seat),
                        "violations": by_seat.get(v.seat, [])} for v in record.verses],
            "next": info.to_dict() if info else None,
            "turn": participant_dict(turn) if turn else None,
            "composing": self.composing(session_id),
            "model_error": failed[1] if failed else None,
        }

    # -- checks ------------------------------------------------------------------------------

    def _need(self, record: Any, token: str | None, *, host: bool = False) -> bool:
        """True for the host token; the join token passes unless `host`."""
        given = (token or "").encode()
        is_host = secrets.compare_digest(given, record.host_token.encode())
        if is_host or (not host and secrets.compare_digest(given, record.join_token.encode())):
            return is_host
        raise Forbidden("only the host (宗匠) can do this: use the host's link" if host else
                        "use this session's join link (its token is missing or wrong)")

    @staticmethod
    def _open(record: Any) -> None:
        if record.status != "open":
            raise SessionOver(f"this session is {record.status}; no more verses")

    @staticmethod
    def _person(record: Any, participant_id: int) -> Any:
        person = next((p for p in record.participants if p.id == participant_id), None)
        if person is None or person.kind != "human":
            raise BadSessionInput(f"participant {participant_id} is not a person at this table")
        return person

    def _length(self, text: str) -> None:
        if len(text) > self.limits.max_verse_chars:
            raise LimitReached(f"a verse has at most {self.limits.max_verse_chars} characters")

    @staticmethod
    def _conflict(given: int, want: int) -> None:
        raise SeatTaken(f"seat {given} is taken; the next seat is {want} — reload to see it")


def participant_dict(p: Any) -> dict[str, Any]:
    return {"id": p.id, "name": p.name, "kind": p.kind, "model": p.model,
            "is_host": p.is_host, "position": p.position}


def verse_dict(v: Any) -> dict[str, Any]:
    return {"seat": v.seat, "text": v.text, "reading": v.reading, "kind": v.kind,
            "season": v.season, "topics": list(v.topics), "author": v.author,
            "participant_id": v.participant_id, "accepted": list(v.accepted),
            "created_at": v.created_at}
