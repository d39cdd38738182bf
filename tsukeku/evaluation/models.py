"""Which models `tsukeku eval` compares: names from a models file, or `name=REF` on the spot.

REF is a training run (dir or name under runs/), an adapter dir — a LoRA/OFT model on the base
it was trained on — or a base (`tiny`, a hub id, a model dir)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tsukeku.errors import ConfigError


def spec_for(ref: str, *, default_base: str = "tiny", runs_dir: str | Path = "runs") -> dict[str, Any]:
    from tsukeku.backends.local import resolve_adapter
    from tsukeku.models import resolve_adapter_dir
    from tsukeku.training.runs import is_run_dir, read_run

    path = Path(resolve_adapter(ref, None, Path(runs_dir).parent if runs_dir else None))
    if path.exists():
        try:
            adapter = resolve_adapter_dir(path)
        except Exception:  # not an adapter: a model directory used as a base
            adapter = None
        if adapter is not None:
            base = default_base
            for run_dir in (path, adapter.parent):
                if is_run_dir(run_dir):
                    base = read_run(run_dir).get("base", default_base)
                    break
            return {"kind": "local", "base": base, "adapter": str(path)}
    return {"kind": "local", "base": ref}


def registry_for(models: list[str], models_file: str | Path | None = None, *,
                 default_base: str = "tiny", runs_dir: str | Path = "runs"):
    """(registry, names): the models file's entries plus every `name=REF` given."""
    from tsukeku.backends.registry import load_models_file, registry_from_dict

    if models_file is not None:
        registry = load_models_file(models_file)
        specs: dict[str, Any] = {}
    else:
        registry, specs = None, {}
    names: list[str] = []
    for item in models:
        name, sep, ref = item.partition("=")
        name = name.strip()
        if not name:
            raise ConfigError(f"model {item!r}: give NAME or NAME=REF")
        if sep:
            specs[name] = spec_for(ref.strip(), default_base=default_base, runs_dir=runs_dir)
        elif registry is None or name not in registry:
            if name in ("base", "tiny"):
                specs[name] = {"kind": "local", "base": default_base}
            else:
                raise ConfigError(f"model {name!r} is not in a models file; pass --models-file "
                                  f"or name it as {name}=RUN_OR_ADAPTER_OR_BASE")
        names.append(name)
    if specs:
        extra = registry_from_dict({"models": specs})
        if registry is None:
            registry = extra
        else:
            for name in specs:
                registry.add(name, extra.get(name))
    return registry, names
