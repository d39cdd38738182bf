"""Run directories: naming, finding, listing and reading them, and their record (run.json)."""

from __future__ import annotations

import json
import os
import platform
import re
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tsukeku.errors import ConfigError
from tsukeku.io import write_json_atomic

RUN_FILE = "run.json"
STAMP = "%Y%m%dT%H%M%SZ"


def utc_stamp(when: datetime | None = None) -> str:
    return (when or datetime.now(UTC)).strftime(STAMP)


def safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "run"


def new_run_dir(runs_dir: Path, name: str) -> Path:
    runs_dir.mkdir(parents=True, exist_ok=True)
    base = f"{safe_name(name)}-{utc_stamp()}"
    path, n = runs_dir / base, 1
    while True:
        try:
            path.mkdir()
            return path
        except FileExistsError:
            n += 1
            path = runs_dir / f"{base}-{n}"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class RunRecord:
    """What run.json holds: what the run trains, where it stands, how it ended. `save` is the one
    writer of run.json; keys this version does not know (an older or newer tsukeku's) are kept."""

    name: str
    status: str  # running | interrupted | failed | completed
    created: str
    updated: str
    pid: int | None = None
    host: str | None = None
    base: str | None = None
    base_resolved: str | None = None
    method: str | None = None
    target_modules: list[str] = field(default_factory=list)
    trainable_params: int | None = None
    total_params: int | None = None
    lr: float | None = None
    precision: str | None = None
    batching: str | None = None
    total_steps: int | None = None
    resumed_from: list[str] = field(default_factory=list)  # the checkpoints it was resumed from
    run_dir: str | None = None
    # written only once they have a value
    mlflow: dict[str, Any] | None = None  # tracking_uri, experiment, run_id
    error: str | None = None
    finished: str | None = None
    summary: dict[str, float] | None = None  # loss per 付句 token per split
    extra: dict[str, Any] = field(default_factory=dict)

    _OPTIONAL = ("mlflow", "error", "finished", "summary")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunRecord:
        known = {f.name for f in fields(cls)} - {"extra"}
        return cls(**{k: v for k, v in data.items() if k in known},
                   extra={k: v for k, v in data.items() if k not in known})

    @classmethod
    def load(cls, run_dir: Path) -> RunRecord:
        data = read_run(run_dir)
        # a record written before one of these keys existed still loads (as the dicts it
        # replaced did, each key read with a default)
        data.setdefault("name", run_dir.name)
        data.setdefault("status", "interrupted")
        data.setdefault("created", now_iso())
        data.setdefault("updated", data["created"])
        return cls.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}
        for key in self._OPTIONAL:
            if out[key] is None:
                del out[key]
        return {**out, **self.extra}

    def save(self, run_dir: Path) -> None:
        self.updated = now_iso()
        write_json_atomic(run_dir / RUN_FILE, self.to_dict())


def is_run_dir(path: Path) -> bool:
    return (path / RUN_FILE).exists()


def find_run(ref: str | os.PathLike, runs_dir: str | os.PathLike = "runs") -> Path:
    """A run dir given by path, by directory name under runs_dir, or by a unique name prefix."""
    p = Path(ref).expanduser()
    if is_run_dir(p):
        return p
    root = Path(runs_dir).expanduser()
    if is_run_dir(root / str(ref)):
        return root / str(ref)
    matches = sorted(d for d in root.glob(f"{ref}*") if is_run_dir(d)) if root.is_dir() else []
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        names = ", ".join(m.name for m in matches[-5:])
        raise ConfigError(f"{ref!r} matches several runs ({names}); give the full run directory")
    raise ConfigError(f"no run {ref!r} (looked for a run directory with {RUN_FILE} at {p} and under {root})")


def read_run(run_dir: Path) -> dict[str, Any]:
    data = json.loads((run_dir / RUN_FILE).read_text(encoding="utf-8"))
    data["run_dir"] = str(run_dir)
    if data.get("status") == "running" and not _alive(data):
        data["status"] = "interrupted"
    return data


def _alive(info: dict[str, Any]) -> bool:
    """Whether the process that wrote a 'running' run is still there (same host only)."""
    pid, host = info.get("pid"), info.get("host")
    if not pid or host != platform.node():
        return True  # cannot tell from here
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def list_runs(runs_dir: str | os.PathLike = "runs") -> list[dict[str, Any]]:
    root = Path(runs_dir).expanduser()
    if not root.is_dir():
        return []
    runs = [read_run(d) for d in root.iterdir() if d.is_dir() and is_run_dir(d)]
    return sorted(runs, key=lambda r: r.get("created", ""))


def run_details(run_dir: Path) -> dict[str, Any]:
    """run.json plus the evaluation, the data manifest and the environment of a run."""
    info = read_run(run_dir)
    for key, name in (("evaluation", "eval.json"), ("data", "data_manifest.json"),
                      ("environment", "environment.json")):
        f = run_dir / name
        if f.exists():
            info[key] = json.loads(f.read_text(encoding="utf-8"))
    cfg = run_dir / "config.yaml"
    if cfg.exists():
        import yaml

        info["config"] = yaml.safe_load(cfg.read_text(encoding="utf-8"))
    ckpts = sorted((run_dir / "checkpoints").glob("checkpoint-*"))
    info["checkpoints"] = [c.name for c in ckpts]
    return info
