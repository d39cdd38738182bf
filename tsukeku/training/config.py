"""The training configuration: defaults < YAML file (`--config`) < command-line flags."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tsukeku.errors import ConfigError

Method = Literal["lora", "oft", "boft"]
Precision = Literal["auto", "fp32", "bf16", "fp16"]
Schedule = Literal["cosine", "linear", "constant", "constant_with_warmup"]
Batching = Literal["packed", "grouped", "shuffled"]


class TrainConfig(BaseModel):
    """Everything that decides what a run does. Saved resolved as `config.yaml` in the run dir."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, description="run name; the run dir is <name>-<utc time>")
    base: str = Field("tiny", description="hub id, local dir, or 'tiny' (the offline base)")
    data: str = Field(..., description="dataset dir written by `tsukeku data build`")
    method: Method = "lora"
    prompt: str | None = Field(None, description="prompt template instead of the dataset's "
                               "prompt.json: completion, instruction, instruction-rinna, or chat "
                               "(the base tokenizer's own chat template)")
    # LoRA
    rank: int = Field(8, ge=1, description="LoRA rank r")
    alpha: float = Field(16.0, gt=0, description="LoRA alpha (scale = alpha / rank)")
    dropout: float = Field(0.05, ge=0, lt=1, description="LoRA dropout / OFT module dropout / BOFT dropout")
    use_dora: bool = Field(False, description="LoRA as DoRA (weight-decomposed; PEFT use_dora)")
    # OFT / BOFT
    oft_block_size: int = Field(16, ge=1, description="OFT block size (divides in_features)")
    boft_block_size: int = Field(8, ge=1, description="BOFT block size")
    boft_butterfly_factor: int = Field(1, ge=1, description="BOFT butterfly factor")
    target_modules: list[str] | Literal["auto", "all-linear"] = "auto"
    # optimisation
    lr: float | None = Field(None, gt=0, description="learning rate; default 1e-3 on tiny, 2e-4 otherwise")
    schedule: Schedule = "cosine"
    warmup_ratio: float = Field(0.05, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0)
    epochs: float = Field(3.0, gt=0)
    max_steps: int | None = Field(None, ge=1, description="overrides epochs")
    batch_size: int = Field(8, ge=1)
    eval_batch_size: int | None = Field(None, ge=1)
    grad_accum: int = Field(1, ge=1)
    max_length: int = Field(128, ge=8)
    max_grad_norm: float = Field(1.0, ge=0)
    neftune_noise_alpha: float | None = Field(None, gt=0, description="NEFTune: noise on the input "
                                              "embeddings while training (the Trainer's option)")
    seed: int = 42
    precision: Precision = "auto"
    load_in_4bit: bool = False
    gradient_checkpointing: bool = False
    batching: Batching = Field("packed", description="packed: random batches packed into rows of "
                               "max_length without cross-example attention; grouped: length-grouped "
                               "batches padded to their longest; shuffled: random batches padded to "
                               "their longest")
    group_by_length: bool | None = Field(None, description="older spelling: true = grouped, "
                                         "false = shuffled (when batching is not given)")
    # bookkeeping
    logging_steps: int = Field(10, ge=1)
    eval_steps: int | None = Field(None, ge=1, description="evaluate every N steps (and at the end)")
    save_steps: int = Field(100, ge=1, description="checkpoint every N steps")
    save_total_limit: int | None = Field(2, ge=1)
    runs_dir: str = "runs"
    mlflow: bool = True
    tracking_uri: str | None = Field(None, description="default: sqlite:///<runs_dir>/mlflow.db")
    experiment: str = "tsukeku"
    merge: bool = Field(False, description="also save the merged model in the run dir (merged/)")

    @field_validator("target_modules", mode="before")
    @classmethod
    def _split_targets(cls, v: Any) -> Any:
        if isinstance(v, str) and v not in ("auto", "all-linear"):
            return [s.strip() for s in v.split(",") if s.strip()]
        return v

    @model_validator(mode="after")
    def _check(self) -> TrainConfig:
        if self.group_by_length is not None and "batching" not in self.model_fields_set:
            self.batching = "grouped" if self.group_by_length else "shuffled"
        if self.precision == "fp16" and not _cuda():
            raise ValueError("precision fp16 needs a CUDA GPU; use fp32 (or auto) on CPU")
        return self

    def resolved_lr(self, base_is_tiny: bool) -> float:
        return self.lr if self.lr is not None else (1e-3 if base_is_tiny else 2e-4)

    def dump(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), allow_unicode=True, sort_keys=False)


def _cuda() -> bool:
    try:
        import torch
    except ImportError:  # pragma: no cover
        return False
    return torch.cuda.is_available()


def read_yaml(path: str | os.PathLike) -> dict[str, Any]:
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"config file {p} does not exist")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{p} is not valid YAML: {err}") from err
    if not isinstance(data, dict):
        raise ConfigError(f"{p} must hold a mapping of option: value")
    # relative dataset / runs paths in a config file are relative to the working directory,
    # like the same values given as flags
    return {k.replace("-", "_"): v for k, v in data.items()}


def build_config(config_file: str | os.PathLike | None = None, **overrides: Any) -> TrainConfig:
    """Defaults, then the YAML file, then every override that is not None."""
    values: dict[str, Any] = read_yaml(config_file) if config_file else {}
    values.update({k: v for k, v in overrides.items() if v is not None})
    if "data" not in values:
        raise ConfigError("no dataset given: pass --data DIR (from `tsukeku data build`) or set data: in --config")
    try:
        return TrainConfig(**values)
    except ValidationError as err:
        raise ConfigError(_explain(err)) from None


def _explain(err: ValidationError) -> str:
    parts = []
    for e in err.errors():
        where = ".".join(str(x) for x in e["loc"]) or "config"
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = f"unknown option; valid options: {', '.join(TrainConfig.model_fields)}"
        parts.append(f"{where}: {msg}")
    return "invalid training config — " + "; ".join(parts)
