"""A local Hugging Face model: a base alone, a base with PEFT adapters (unmerged; several named
adapters on one base, chosen per request), or a merged directory. Mora-constrained decoding is
available (`supports_constraints = True`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tsukeku.errors import InputError, TsukekuError
from tsukeku.generation.composer import Composer
from tsukeku.generation.loaded_model import BASE_ADAPTER, LoadedModel
from tsukeku.generation.rerank import Reranker
from tsukeku.generation.types import ComposeRequest, CompositionResult
from tsukeku.prompts import resolve_template


def resolve_adapter(ref: str | os.PathLike, *roots: str | os.PathLike | None) -> str:
    """An adapter directory, a run directory, or a run name (prefix) under `runs/` of each root
    (the models file's folder, the working directory), as `tsukeku runs` finds them."""
    from tsukeku.training.runs import find_run

    p = Path(ref).expanduser()
    for root in (*roots, None):
        cand = p if root is None or p.is_absolute() else Path(root) / p
        if cand.exists():
            return str(cand.resolve())
    if p.is_absolute() or len(p.parts) != 1:
        return str(ref)  # a path that is not there: loading says what is missing
    for root in (*roots, Path.cwd()):
        if root is None:
            continue
        try:
            return str(find_run(str(ref), Path(root) / "runs").resolve())
        except TsukekuError:
            continue
    return str(ref)  # loading says what is missing


class LocalHFBackend:
    """One named model of a registry over a (possibly shared) loaded base.

    `adapters` maps the names a request may give (`ComposeRequest.adapter`) to adapter names
    loaded on the shared model; `default` is used when the request names none (None: the base
    alone, also when other backends put adapters on the same base)."""

    supports_constraints = True

    def __init__(self, name: str, loaded: LoadedModel, *, adapters: dict[str, str] | None = None,
                 default: str | None = None, template: Any = None,
                 reranker: Reranker | None = None, oversample: float = 1.5,
                 template_dirs: tuple[Any, ...] = ()):
        self.name = name
        self.loaded = loaded
        self.adapters = dict(adapters or {})
        self.default = default
        tpl = resolve_template(template, loaded.tokenizer, *template_dirs)
        self.composer = Composer(loaded, template=tpl, reranker=reranker, name=name,
                                 adapter=self._loaded_name(default), oversample=oversample)

    @classmethod
    def from_pretrained(cls, name: str, base: str | os.PathLike | None = None, *,
                        adapter: str | os.PathLike | None = None,
                        adapters: dict[str, str | os.PathLike] | None = None,
                        template: Any = None, known: str | os.PathLike | None = None,
                        dtype: str | None = None, device: str | None = None) -> LocalHFBackend:
        """A standalone backend (its own copy of the base). `base` None: the base the adapter
        was trained on (a ModelError naming it when it is not there), or tiny without one."""
        from tsukeku.models import resolve_base
        from tsukeku.models.loader import trained_base

        if base is None:
            base = trained_base(resolve_adapter(adapter)) if adapter is not None else "tiny"
        loaded = LoadedModel.load(base, dtype=dtype, device=device)
        named = {k: resolve_adapter(v) for k, v in (adapters or {}).items()}
        if adapter is not None:
            named = {"default": resolve_adapter(adapter), **named}
        for key, path in named.items():
            loaded.add_adapter(key, path)
        default = "default" if adapter is not None else None
        dirs = tuple(loaded.adapters[k] for k in named) + (resolve_base(base),)
        return cls(name, loaded, adapters={k: k for k in named}, default=default,
                   template=template, template_dirs=dirs,
                   reranker=Reranker.from_dataset(known) if known else None)

    @property
    def template(self):
        return self.composer.template

    def _loaded_name(self, adapter: str | None) -> str | None:
        if adapter is None or adapter == BASE_ADAPTER:
            return BASE_ADAPTER  # the base alone (adapters of other backends disabled)
        if adapter not in self.adapters:
            known = ", ".join(sorted(self.adapters)) or "none"
            raise InputError(f"model {self.name!r} has no adapter {adapter!r} (its adapters: "
                             f"{known}; {BASE_ADAPTER!r} for the base alone)")
        return self.adapters[adapter]

    def _route(self, request: ComposeRequest) -> ComposeRequest:
        chosen = request.adapter if request.adapter is not None else self.default
        return request.model_copy(update={"adapter": self._loaded_name(chosen)})

    def compose(self, request: ComposeRequest) -> CompositionResult:
        return self.compose_many([request])[0]

    def compose_many(self, requests: list[ComposeRequest]) -> list[CompositionResult]:
        routed = [self._route(r) for r in requests]
        results = self.composer.compose_many(routed)
        for original, result in zip(requests, results, strict=True):
            result.previous = original.previous
        return results

    def score(self, previous: str, candidates: list[str], *, form: str,
              context: list[str] | tuple[str, ...] = (), adapter: str | None = None,
              max_length: int = 256) -> list[float]:
        """Each candidate's length-normalised log-likelihood as the 付句 of `previous` (mean
        log-probability per target token, end marker included) in this model's template: the
        held-out loss's encoding (training.data.encode_split) and NLL (training.evaluate), kept
        per candidate. Remote backends have no such method: they give no log-probabilities of
        a text they did not write."""
        from tsukeku.training.data import encode_split, make_collator
        from tsukeku.training.evaluate import target_nll

        records = [{"previous": previous, "next": c, "next_form": form, "context": list(context)}
                   for c in candidates]
        loaded = self.loaded
        encoded = encode_split(loaded.tokenizer, self.template, records, max_length)
        name = self._loaded_name(adapter if adapter is not None else self.default)
        with loaded.lock, loaded.using(name):
            rows = target_nll(loaded.model, encoded.examples, make_collator(loaded.tokenizer))
        return [-total / max(count, 1) for total, count in rows]
