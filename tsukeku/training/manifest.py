"""The manifest a training run leaves beside its weights: `models.yaml`, in the models-file
format the server reads (`tsukeku.backends.registry`), so that `tsukeku serve --models DIR` and
a SageMaker endpoint on the job's model directory serve exactly the trained model.

```yaml
default: model
models:
  model:
    kind: local
    base: rinna/japanese-gpt-neox-3.6b   # the base as the run was given it
    base_resolved: /opt/ml/input/data/base  # where the run found it (information only)
    adapter: adapter                     # relative to this file
    merged: merged                       # present only when merged weights were written
    template: prompt.json
```

The server loads `merged` when that directory is there, else `base` + `adapter`; it never puts
the adapter on another base. Training writes this file and serving reads it; neither imports the
other (the format is the contract, validated by `tsukeku.backends.registry.ModelsFile`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tsukeku.io import write_text_atomic

MANIFEST = "models.yaml"
MODEL_NAME = "model"  # the name a manifest's model is served under (as for a bare model dir)


def manifest_spec(*, base: str, base_resolved: str | None = None, adapter: str | None = None,
                  merged: str | None = None, template: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"kind": "local", "base": base}
    if base_resolved and base_resolved != base:
        spec["base_resolved"] = base_resolved
    for key, value in (("adapter", adapter), ("merged", merged), ("template", template)):
        if value is not None:
            spec[key] = value
    return spec


def write_manifest(folder: str | os.PathLike, spec: dict[str, Any], *, note: str = "",
                   name: str = MODEL_NAME) -> Path:
    """Writes `folder/models.yaml` (atomically) naming one model."""
    import yaml

    head = "# Written by tsukeku training: what this directory serves (docs/training.md).\n"
    if note:
        head += f"# {note}\n"
    body = yaml.safe_dump({"default": name, "models": {name: spec}}, allow_unicode=True,
                          sort_keys=False)
    return write_text_atomic(Path(folder) / MANIFEST, head + body)


def run_manifest(run_dir: str | os.PathLike, folder: str | os.PathLike | None = None, *,
                 merged: str | os.PathLike | None = None) -> Path:
    """The manifest of a completed run, written into `folder` (default: the run dir). Paths are
    relative to `folder` when they lie inside it. `merged`: merged weights of the run, if any
    (default: `folder/merged` when it holds a model)."""
    run_dir = Path(run_dir)
    folder = Path(folder) if folder is not None else run_dir
    info = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    base = info.get("base") or info.get("base_resolved") or "tiny"
    if merged is None and (folder / "merged" / "config.json").is_file():
        merged = folder / "merged"
    adapter = folder / "adapter" if (folder / "adapter").is_dir() else run_dir / "adapter"
    template = folder / "prompt.json" if (folder / "prompt.json").is_file() else None
    spec = manifest_spec(
        base=str(base), base_resolved=info.get("base_resolved"),
        adapter=_relative(adapter, folder) if (adapter / "adapter_config.json").is_file() else None,
        merged=_relative(Path(merged), folder) if merged is not None else None,
        template=_relative(template, folder) if template is not None else None)
    return write_manifest(folder, spec, note=f"run {info.get('name', run_dir.name)} "
                                              f"({info.get('method', '?')})")


def _relative(path: Path, folder: Path) -> str:
    try:
        rel = path.resolve().relative_to(folder.resolve())
    except ValueError:
        return str(path.resolve())
    return "." if str(rel) == "." else rel.as_posix()
