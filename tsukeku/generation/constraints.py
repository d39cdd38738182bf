"""Mora-constrained decoding: a transformers `LogitsProcessor` that only lets a verse of the
requested form be written.

How it works
------------
Every row being generated is in a state of a small automaton:

    (form, 字余り allowed, ku index k, morae m in ku k, unfinished UTF-8 bytes, started, may a
     small kana follow)

For each state the set of allowed next tokens is one boolean row over the vocabulary, computed
once (vectorised with numpy over the token table of `token_table.py`) and kept in a tensor, so a
decoding step costs one gather of B mask rows and one `masked_fill` — plus a dictionary lookup per
row to advance its state with the token just sampled. A token is allowed when

- its morae fit in the current ku (m + m0 ≤ target, or target + 1 with 字余り);
- it holds the space between ku only when the current ku is complete (m + m0 ≥ target) and a
  ku follows — when the ku is exactly full, only such tokens are left, so the space is forced;
- it is not masked by the table (symbols, Latin, newlines: no reading);
- it leaves a character unfinished (byte pieces) only when at least one mora of room remains;
  the next token must then finish that character (its leading continuation bytes), and the
  finished character's morae are checked the same way;
- a small kana (ゃ …) only after a full-size kana, so that it colours a mora instead of
  looping without adding any.

End of verse (the template's end marker, or eos) is allowed only when the last ku is complete,
and forced when it is full. A row with no allowed token (a dead end: e.g. an unfinished kanji
whose every completion overruns) may only end; its text then fails the final form check and the
composer samples again.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

import numpy as np
import torch
from transformers import LogitsProcessor

from tsukeku.generation.token_table import TokenTable, char_morae, smallable, viable_prefix
from tsukeku.prosody.kana import SMALL_KANA


@dataclass(frozen=True)
class Meter:
    """The form to write: morae per ku, and whether one extra mora per ku (字余り) is allowed."""

    targets: tuple[int, ...]
    jiamari: bool = False

    @property
    def caps(self) -> tuple[int, ...]:
        return tuple(t + int(self.jiamari) for t in self.targets)

    @classmethod
    def of(cls, form: str, jiamari: bool = False) -> Meter:
        from tsukeku.prosody import FORMS

        return cls(tuple(FORMS[form]), jiamari)


class KuState(NamedTuple):
    """Where a constrained row stands in its verse."""

    targets: tuple[int, ...]  # morae per ku
    jiamari: bool  # one extra mora per ku allowed
    ku: int  # index of the current ku
    morae: int  # morae written in it so far
    pending: bytes  # an unfinished UTF-8 character at the end of the row
    started: bool  # some of the verse is written (a leading space is no longer dropped)
    small_ok: bool  # a small kana may follow (the last character is a full-size kana)


StateKey = KuState | tuple[str]
ENDED: StateKey = ("ended",)  # finished (or unconstrained): anything goes, the row is padding
DEAD: StateKey = ("dead",)  # a sampled token was not allowed (another processor forced it)


@dataclass
class _Completion:
    """What a run of continuation bytes does to a pending unfinished character."""

    valid: np.ndarray  # bool per continuation group
    complete: np.ndarray  # bool: the character is finished
    morae: np.ndarray  # int16: its morae
    small: np.ndarray  # bool: it is a small kana
    smallable: np.ndarray  # bool: a small kana may follow it
    pending: list[bytes]  # still unfinished: the bytes so far


class MoraAutomaton:
    """States, allowed-token masks and transitions for one token table and set of end tokens.

    Shared by every generate call on the same tokenizer (thread-safe); states are discovered
    lazily and kept, so after a few calls a step is a tensor gather and dictionary lookups.
    """

    def __init__(self, table: TokenTable, end_ids: list[int] | tuple[int, ...], vocab_size: int):
        if not end_ids:
            raise ValueError("constrained decoding needs at least one end-of-verse token")
        self.table = table
        self.vocab_size = max(vocab_size, table.size)
        self.end_ids = tuple(sorted(set(end_ids)))
        self._end = np.zeros(self.vocab_size, dtype=bool)
        self._end[list(self.end_ids)] = True
        self._lock = threading.RLock()
        self._keys: list[StateKey] = []
        self._index: dict[StateKey, int] = {}
        self._rows: list[np.ndarray] = []
        self._pendings: list[bytes] = [b""]
        self._pending_ids: dict[bytes, int] = {b"": 0}
        self._table_cpu = torch.zeros(0, self.vocab_size, dtype=torch.bool)
        self._next: list[dict[str, np.ndarray] | None] = []
        self._trans: dict[tuple[int, int], int] = {}
        self._masks: dict[torch.device, tuple[torch.Tensor, int]] = {}  # device copies, rows
        self._completions: dict[bytes, _Completion] = {}
        self.dead_states = 0
        # an unfinished character at the end of a token must be one we could finish and read
        self._tail_ok = np.asarray([not t or viable_prefix(t) for t in table.tails], dtype=bool)
        self.ended = self._intern(ENDED, np.ones(self.vocab_size, dtype=bool))
        self.dead = self._intern(DEAD, self._end.copy())

    # -- states ---------------------------------------------------------------------------------
    def start(self, meter: Meter | None) -> int:
        """The initial state of a row (`None`: an unconstrained row)."""
        if meter is None:
            return self.ended
        return self.state(KuState(meter.targets, meter.jiamari, 0, 0, b"", False, False))

    def state(self, key: KuState) -> int:
        with self._lock:
            sid = self._index.get(key)
            if sid is None:
                sid = self._expand(key)
            return sid

    def key(self, sid: int) -> StateKey:
        return self._keys[sid]

    def is_complete(self, sid: int) -> bool:
        """Whether the row has finished a whole verse of its form (or ended)."""
        key = self._keys[sid]
        if not isinstance(key, KuState):
            return key == ENDED
        return not key.pending and key.ku == len(key.targets) - 1 and key.morae >= key.targets[key.ku]

    def full_ku(self, sid: int) -> tuple[int, int, int, int] | None:
        """(k, m, target, cap) when the row has filled ku k by the table's count (the point
        where the analyser is asked to confirm it), else None."""
        key = self._keys[sid]
        if not isinstance(key, KuState) or key.pending or key.morae < key.targets[key.ku]:
            return None
        target = key.targets[key.ku]
        return key.ku, key.morae, target, target + int(key.jiamari)

    def ku_index(self, sid: int) -> int | None:
        key = self._keys[sid]
        return key.ku if isinstance(key, KuState) else None

    def meter_of(self, sid: int) -> tuple[tuple[int, ...], bool] | None:
        key = self._keys[sid]
        return (key.targets, key.jiamari) if isinstance(key, KuState) else None

    def with_morae(self, sid: int, morae: int) -> int:
        """The same state with the morae of the current ku set to `morae` (the analyser's
        count of the ku as written); past the ku's cap the row is dead."""
        key = self._keys[sid]
        assert isinstance(key, KuState)
        if morae > key.targets[key.ku] + int(key.jiamari):
            return self.dead
        return self.state(key._replace(morae=morae))

    def step(self, sid: int, token: int) -> int:
        """The state after `token` is written in state `sid`."""
        nxt = self._trans.get((sid, token))
        if nxt is not None:
            return nxt
        with self._lock:
            key = self._keys[sid]
            if not isinstance(key, KuState):  # ended or dead: stays so
                nxt = sid
            elif token >= self.vocab_size or not self._rows[sid][token]:
                nxt = self.dead
            elif self._end[token]:
                nxt = self.ended
            else:
                arrays = self._next[sid]
                assert arrays is not None
                i = int(np.searchsorted(arrays["token"], token))
                assert arrays["token"][i] == token  # allowed tokens are exactly those stored
                nxt = self.state(KuState(
                    key.targets, key.jiamari, int(arrays["k"][i]), int(arrays["m"][i]),
                    self._pendings[int(arrays["pending"][i])], True, bool(arrays["cs"][i])))
            self._trans[(sid, token)] = nxt
            return nxt

    def mask(self, sids: list[int], device: torch.device | str = "cpu") -> torch.Tensor:
        """Allowed tokens, one boolean row per state id: shape (len(sids), vocab_size)."""
        device = torch.device(device)
        if device.type == "cpu":
            masks = self._table_cpu
        else:
            cached = self._masks.get(device)
            if cached is None or cached[1] < len(self._rows):
                with self._lock:  # copied again when new states appeared (rare after warm-up)
                    cached = (self._table_cpu.to(device), len(self._rows))
                    self._masks[device] = cached
            masks = cached[0]
        index = torch.tensor(sids, dtype=torch.long, device=device)
        return masks.index_select(0, index)

    def masked(self, sids: list[int], scores: torch.Tensor) -> torch.Tensor:
        """`scores` (one row per state id) with the tokens each state forbids set to −inf; the
        mask is cut or padded to the scores' vocabulary (a model's head may be wider)."""
        mask = self.mask(sids, scores.device)
        vocab = scores.shape[-1]
        if mask.shape[1] != vocab:
            mask = _fit(mask, vocab)
        return scores.masked_fill(~mask, float("-inf"))

    # -- building a state ------------------------------------------------------------------------
    def _intern(self, key: StateKey, row: np.ndarray,
                arrays: dict[str, np.ndarray] | None = None) -> int:
        sid = len(self._keys)
        # states appear during generate (inference mode); the table must stay a normal tensor
        with torch.inference_mode(False):
            if sid >= self._table_cpu.shape[0]:  # grow by doubling
                grown = torch.zeros(max(16, 2 * sid), self.vocab_size, dtype=torch.bool)
                grown[:sid] = self._table_cpu[:sid]
                self._table_cpu = grown
            self._table_cpu[sid] = torch.from_numpy(row)
        self._keys.append(key)
        self._index[key] = sid
        self._rows.append(row)
        self._next.append(arrays)
        return sid

    def _pending_id(self, pend: bytes) -> int:
        pid = self._pending_ids.get(pend)
        if pid is None:
            pid = self._pending_ids[pend] = len(self._pendings)
            self._pendings.append(pend)
        return pid

    def _expand(self, key: KuState) -> int:
        targets, jiamari, k, m, pend, started, cs = key
        t = self.table
        caps = [x + int(jiamari) for x in targets]
        n_ku = len(targets)
        size = t.size
        tail_pending = np.asarray([self._pending_id(b) for b in t.tails], dtype=np.int32)

        m0 = t.m0.astype(np.int32)
        sp = t.sp.copy()
        m1 = t.m1.astype(np.int32)
        has_tail = t.tail_id > 0
        pending = tail_pending[t.tail_id]
        first_small = t.starts_small.copy()
        ends_cs = t.ends_smallable.copy()
        seg0_empty = t.seg0_empty
        if not pend:
            ok = t.usable & (t.cont_len == 0)
        else:
            # Only tokens that start with continuation bytes can finish the pending character.
            comp = self._completion(pend)
            g = t.cont_group
            ok = t.usable & (t.cont_len > 0) & comp.valid[g]
            done = comp.complete[g]
            still = ok & ~done
            # An unfinished character continues only with a token made of continuation bytes.
            ok &= done | (t.body_empty & ~has_tail)
            # The finished character is the first of the body (it goes before any space).
            m0 = np.where(done, m0 + comp.morae[g], m0)
            ok &= ~done | ~t.starts_small | comp.smallable[g]
            first_small = np.where(done, comp.small[g], False)
            ends_cs = np.where(done & t.body_empty, comp.smallable[g], ends_cs)
            seg0_empty = seg0_empty & ~done
            cont_pending = np.asarray([self._pending_id(b) for b in comp.pending],
                                      dtype=np.int32)
            pending = np.where(still, cont_pending[g], pending)
            has_tail = has_tail | still
        ok = ok & (~first_small | cs) & self._tail_ok[t.tail_id]
        # No token may leave the state as it was (an empty or zero-mora piece that is not a
        # small kana colouring the previous one): that would let a row loop without end.
        ok &= (m0 > 0) | sp | has_tail | first_small
        if not started:
            # A leading space before the first ku is not part of the verse (SentencePiece words
            # often start with "▁"); a token holding only that space is not allowed.
            lead = sp & seg0_empty
            m0 = np.where(lead, m1, m0)
            m1 = np.where(lead, 0, m1)
            sp = sp & ~lead
            ok &= ~lead | (m0 > 0) | has_tail
        after = m + m0
        reserve = has_tail.astype(np.int32)  # an unfinished character has at least one mora
        if k + 1 < n_ku:
            boundary = (after >= targets[k]) & (after <= caps[k]) & (m1 + reserve <= caps[k + 1])
        else:
            boundary = np.zeros(size, dtype=bool)
        inside = after + reserve <= caps[k]
        ok &= np.where(sp, boundary, inside)

        row = np.zeros(self.vocab_size, dtype=bool)
        row[:size] = ok
        row[self._end] = False
        complete = not pend and k == n_ku - 1 and m >= targets[k]
        if complete:
            row[self._end] = True
        if not row.any():
            self.dead_states += 1
            row = self._end.copy()
        # The next state's fields only for the tokens a step can take (allowed, not an end
        # token): a few percent of the vocabulary, and states are kept for the process's life
        # — dense arrays cost 8 bytes per token per state (≈ 260 KB at a 32k vocabulary).
        tok = np.flatnonzero(row[:size] & ~self._end[:size])
        arrays = {
            "token": tok.astype(np.int32),
            "k": np.where(sp[tok], k + 1, k).astype(np.int8),
            "m": np.where(sp[tok], m1[tok], after[tok]).astype(np.int16),
            "pending": pending[tok].astype(np.int32),
            "cs": ends_cs[tok].astype(bool),
        }
        return self._intern(key, row, arrays)

    def _completion(self, pend: bytes) -> _Completion:
        """Finishing the pending bytes with each distinct run of continuation bytes."""
        comp = self._completions.get(pend)
        if comp is not None:
            return comp
        groups = self.table.cont_groups
        n = len(groups)
        valid = np.zeros(n, dtype=bool)
        complete = np.zeros(n, dtype=bool)
        morae = np.zeros(n, dtype=np.int16)
        small = np.zeros(n, dtype=bool)
        cs = np.zeros(n, dtype=bool)
        pending: list[bytes] = [b""] * n
        need = _utf8_length(pend[0]) if pend else 0
        for i, lead in enumerate(groups):
            if not lead:
                continue
            joined = pend + lead
            if need == 0 or len(joined) > need:
                continue
            if len(joined) < need:
                valid[i] = viable_prefix(joined)
                pending[i] = joined
                continue
            try:
                ch = joined.decode("utf-8")
            except UnicodeDecodeError:
                continue
            count = char_morae(ch)
            if count is None:
                continue
            valid[i] = complete[i] = True
            morae[i] = count
            small[i] = ch in SMALL_KANA
            cs[i] = smallable(ch)
        comp = _Completion(valid, complete, morae, small, cs, pending)
        self._completions[pend] = comp
        return comp


def _utf8_length(first: int) -> int:
    if 0xC2 <= first <= 0xDF:
        return 2
    if 0xE0 <= first <= 0xEF:
        return 3
    if 0xF0 <= first <= 0xF4:
        return 4
    return 0


_AUTOMATA: dict[tuple[str, tuple[int, ...], int], MoraAutomaton] = {}
_AUTOMATA_LOCK = threading.Lock()


def automaton_for(table: TokenTable, end_ids: list[int], vocab_size: int) -> MoraAutomaton:
    """One automaton per (tokenizer table, end tokens, model vocabulary), kept for the process."""
    key = (table.key or str(id(table)), tuple(sorted(set(end_ids))), vocab_size)
    with _AUTOMATA_LOCK:
        auto = _AUTOMATA.get(key)
        if auto is None:
            auto = MoraAutomaton(table, end_ids, vocab_size)
            _AUTOMATA[key] = auto
        return auto


class MoraConstraintLogitsProcessor(LogitsProcessor):
    """Masks, row by row, every token that would break the row's form (see the module doc).

    `meters[i]` is the form of row i, or None for a row left unconstrained (a mixed batch).
    Create one per generate call: it keeps the rows' states."""

    def __init__(self, automaton: MoraAutomaton, meters: list[Meter | None], prompt_length: int,
                 *, resync: bool = True):
        self.automaton = automaton
        self.states = [automaton.start(meter) for meter in meters]
        self.prompt_length = prompt_length
        self.resync = resync
        self.resyncs = [0] * len(meters)  # per row: ku whose count the analyser corrected
        self.rejected = [0] * len(meters)  # per row: stopped, a finished ku reads off the meter
        self._seen = prompt_length
        self._ku = [bytearray() for _ in meters]  # bytes of each row's current ku
        self._raw = automaton.table.raw

    def __call__(self, input_ids: torch.LongTensor, scores: torch.Tensor) -> torch.Tensor:
        length = input_ids.shape[1]
        if length > self._seen:
            # one token per call: generate calls the processors once per new position
            self.advance(input_ids[:, -1].tolist())
            self._seen = length
        return self.automaton.masked(self.states, scores)

    def advance(self, tokens: list[int]) -> None:
        """Moves each row past the token it has just written (one per row); the step-level
        engine (tsukeku.generation.engine) calls this directly, generate through `__call__`."""
        step = self.automaton.step
        new = [step(s, t) for s, t in zip(self.states, tokens, strict=True)]
        if self.resync:
            new = [self._confirm(i, s, n, t)
                   for i, (s, n, t) in enumerate(zip(self.states, new, tokens, strict=True))]
        self.states = new

    def complete(self) -> list[bool]:
        return [self.automaton.is_complete(s) for s in self.states]

    def _confirm(self, row: int, before: int, after: int, token: int) -> int:
        """Keeps the row's count honest where it matters: the table reads each token on its
        own, the final check reads each ku whole. When a ku is full by the table's count, the
        analyser counts the ku as written (meter-aware, as `check_form` does) and the state
        takes that count; a ku closed off the meter stops the row (it will be resampled)."""
        auto = self.automaton
        k_before = auto.ku_index(before)
        k_after = auto.ku_index(after)
        if k_before is None or k_after is None:
            return after  # ended, dead or unconstrained
        raw = self._raw[token] or b""
        buf = self._ku[row]
        if k_after > k_before:  # the token holds the space: ku k_before is closed
            head, _, tail = raw.rpartition(b" ")
            closed = bytes(buf + head)
            self._ku[row] = bytearray(tail)
            meter = auto.meter_of(after)
            assert meter is not None
            target = meter[0][k_before]
            count = ku_count(closed, target)
            if count is None or not target <= count <= target + int(meter[1]):
                self.rejected[row] += 1
                return auto.dead
        else:
            buf += raw
        full = auto.full_ku(after)
        if full is None:
            return after
        _k, m, target, _cap = full
        count = ku_count(bytes(self._ku[row]), target)
        if count is None:
            self.rejected[row] += 1
            return auto.dead
        if count != m:
            self.resyncs[row] += 1
            fixed = auto.with_morae(after, count)
            if fixed == auto.dead:
                self.rejected[row] += 1
            return fixed
        return after


@lru_cache(maxsize=16384)
def ku_count(raw: bytes, target: int) -> int | None:
    """Morae of one ku as `check_form` counts it (the reading nearest the meter)."""
    from tsukeku.errors import TsukekuError
    from tsukeku.prosody import count_morae

    text = raw.decode("utf-8", errors="replace").strip()
    if not text:
        return 0
    try:
        return count_morae(text, expected=target)
    except TsukekuError:
        return None


def _fit(mask: torch.Tensor, vocab: int) -> torch.Tensor:
    if mask.shape[1] > vocab:
        return mask[:, :vocab]
    pad = torch.zeros(mask.shape[0], vocab - mask.shape[1], dtype=torch.bool, device=mask.device)
    return torch.cat([mask, pad], dim=1)
