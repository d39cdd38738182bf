"""A model and its tokenizer in memory (`LoadedModel`), shared by every backend on the same
base, with its PEFT adapters loaded unmerged; `adapter_base` reads the base an adapter was
trained on."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from tsukeku.errors import ConfigError, ModelError

BASE_ADAPTER = "__base__"  # the base model alone, adapters disabled (PEFT's name for it)


class LoadedModel:
    """A model and its tokenizer in memory, shared by every backend on the same base.

    One lock serialises generation: `generate`, the global RNG (seeds) and the active PEFT
    adapter are process-wide state. Adapters are loaded unmerged onto the one base."""

    def __init__(self, model: Any, tokenizer: Any, *, source: str = ""):
        self.model = model
        self.tokenizer = tokenizer
        self.source = source
        self.lock = threading.RLock()
        self.adapters: dict[str, Path] = {}
        self.method: str | None = None  # the PEFT method of the adapters (one per model)

    @classmethod
    def load(cls, base: str | os.PathLike | None = "tiny", *, dtype: str | None = None,
             device: str | None = None) -> LoadedModel:
        from tsukeku.models import load_model

        model, tokenizer = load_model(base, dtype=dtype, device=device)
        return cls(model, tokenizer, source=str(base))

    @property
    def is_peft(self) -> bool:
        return hasattr(self.model, "peft_config")

    def add_adapter(self, name: str, path: str | os.PathLike) -> Path:
        """Loads a PEFT adapter (dir or run dir) under `name`; the base stays unmerged."""
        from peft import PeftModel

        from tsukeku.models import resolve_adapter_dir

        if name == BASE_ADAPTER:
            raise ConfigError(f"{BASE_ADAPTER!r} is reserved for the base model alone")
        adir = resolve_adapter_dir(path)
        with self.lock:
            if name in self.adapters:
                if self.adapters[name] != adir:
                    raise ConfigError(f"adapter name {name!r} is already used for "
                                      f"{self.adapters[name]}")
                return adir
            try:
                if self.is_peft:
                    self.model.load_adapter(str(adir), adapter_name=name)
                else:
                    self.model = PeftModel.from_pretrained(self.model, str(adir),
                                                           adapter_name=name)
            except RuntimeError as err:
                if "size mismatch" not in str(err):
                    raise
                trained_on = adapter_base(adir) or "another base"
                raise ModelError(
                    f"the adapter {adir} does not fit the base {self.source}: it was trained on "
                    f"{trained_on}. Load it with that base (--base / `base:`), or train it "
                    "again on this one"
                ) from None
            self.model.eval()
            self.adapters[name] = adir
        return adir

    def adapter_type(self, name: str) -> str:
        return str(self.model.peft_config[name].peft_type).split(".")[-1].upper()

    def using(self, adapter: str | None):
        """A context in which the model runs as `adapter` (BASE_ADAPTER: adapters disabled;
        None on a plain model: as it is). Callers hold `lock`."""
        import contextlib

        if not self.is_peft or adapter is None:
            return contextlib.nullcontext()
        if adapter == BASE_ADAPTER:
            return self.model.disable_adapter()
        self.model.set_adapter(adapter)
        return contextlib.nullcontext()


def adapter_base(adapter: str | os.PathLike) -> str | None:
    """The base an adapter was trained on (`base_model_name_or_path` of its PEFT config)."""
    from tsukeku.models import adapter_config

    try:
        return adapter_config(adapter).base_model_name_or_path
    except ModelError:
        return None
