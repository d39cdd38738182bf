"""The training configuration: defaults < YAML file (`--config`) < command-line flags.

The options of each PEFT method are grouped as PEFT keeps them (`LoraConfig`, `OFTConfig`,
`BOFTConfig`): `lora:`, `oft:` and `boft:` in a config file. The flat names of older config
files and of the command line (`rank`, `alpha`, `dropout`, `use_dora`, `oft_block_size`,
`boft_block_size`, `boft_butterfly_factor`) still load: `FLAT_OPTIONS` says where each lives.
A run's own `config.yaml` is written in that flat layout, which every tsukeku version reads.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tsukeku.errors import ConfigError, explain_validation

Method = Literal["lora", "oft", "boft", "dpo"]
Precision = Literal["auto", "fp32", "bf16", "fp16"]
Schedule = Literal["cosine", "linear", "constant", "constant_with_warmup"]
Batching = Literal["packed", "grouped", "shuffled"]

_DROPOUT = Field(0.05, ge=0, lt=1, description="dropout of the adapter's inputs (LoRA), of whole "
                 "adapter modules (OFT) or of BOFT's blocks")


class LoraOptions(BaseModel):
    """LoRA (PEFT `LoraConfig`: `r`, `lora_alpha`, `lora_dropout`, `use_dora`)."""

    model_config = ConfigDict(extra="forbid")

    rank: int = Field(8, ge=1, description="LoRA rank r")
    alpha: float = Field(16.0, gt=0, description="LoRA alpha (scale = alpha / rank)")
    dropout: float = _DROPOUT
    use_dora: bool = Field(False, description="LoRA as DoRA (weight-decomposed; PEFT use_dora)")


class OftOptions(BaseModel):
    """OFT (PEFT `OFTConfig`: `oft_block_size`, `module_dropout`)."""

    model_config = ConfigDict(extra="forbid")

    block_size: int = Field(16, ge=1, description="OFT block size (divides in_features)")
    dropout: float = _DROPOUT


class BoftOptions(BaseModel):
    """BOFT (PEFT `BOFTConfig`: `boft_block_size`, `boft_n_butterfly_factor`, `boft_dropout`)."""

    model_config = ConfigDict(extra="forbid")

    block_size: int = Field(8, ge=1, description="BOFT block size")
    butterfly_factor: int = Field(1, ge=1, description="BOFT butterfly factor")
    dropout: float = _DROPOUT


class DpoOptions(BaseModel):
    """DPO: preference tuning that continues an SFT adapter (TRL `DPOConfig`: `beta`,
    `loss_type`); the SFT adapter is also the reference model."""

    model_config = ConfigDict(extra="forbid")

    preferences: str | None = Field(None, description="preference pairs (JSON Lines: prompt, "
                                    "chosen, rejected) from `tsukeku arena export-preferences` "
                                    "or `tsukeku data preferences`")
    adapter: str | None = Field(None, description="the SFT run (dir or name) or adapter dir to "
                                "continue; its model is the reference")
    beta: float = Field(0.1, gt=0, description="DPO β: how far the tuned model may move from "
                        "the reference")
    loss_type: Literal["sigmoid", "ipo", "hinge", "robust"] = Field(
        "sigmoid", description="TRL's DPO loss: sigmoid (the DPO paper), ipo, hinge, robust")
    sft_weight: float = Field(0.0, ge=0, description="weight of an added SFT (NLL) loss on the "
                              "chosen 付句 (TRL loss_type [.., 'sft'], as RPO): keeps its "
                              "likelihood from falling; 0 = plain DPO")
    eval_share: float = Field(0.1, ge=0, lt=1, description="share of the pairs held out "
                              "(seeded) for the run's preference accuracy")


METHOD_OPTIONS: dict[str, type[BaseModel]] = {"lora": LoraOptions, "oft": OftOptions, "boft": BoftOptions,
                                              "dpo": DpoOptions}

# The flat option names (older config files, the command line, a run's config.yaml) and the
# grouped places they set. `dropout` was one option for every method: it sets each one's own.
FLAT_OPTIONS: dict[str, tuple[tuple[str, str], ...]] = {
    "rank": (("lora", "rank"),),
    "alpha": (("lora", "alpha"),),
    "dropout": (("lora", "dropout"), ("oft", "dropout"), ("boft", "dropout")),
    "use_dora": (("lora", "use_dora"),),
    "oft_block_size": (("oft", "block_size"),),
    "boft_block_size": (("boft", "block_size"),),
    "boft_butterfly_factor": (("boft", "butterfly_factor"),),
    "preferences": (("dpo", "preferences"),),
    "adapter": (("dpo", "adapter"),),
    "beta": (("dpo", "beta"),),
    "loss_type": (("dpo", "loss_type"),),
    "sft_weight": (("dpo", "sft_weight"),),
    "eval_share": (("dpo", "eval_share"),),
}


def group_options(values: dict[str, Any]) -> dict[str, Any]:
    """`values` with every flat method option moved into its group (`rank: 4` → `lora: {rank: 4}`);
    a flat option wins over the same option given grouped in the same mapping."""
    out = dict(values)
    for flat, places in FLAT_OPTIONS.items():
        if flat not in out:
            continue
        value = out.pop(flat)
        for group, key in places:
            current = out.get(group)
            if isinstance(current, BaseModel):
                current = current.model_dump()
            if current is None:
                current = {}
            if isinstance(current, dict):  # anything else is left for validation to refuse
                out[group] = {**current, key: value}
    return out


def _merge(values: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """`overrides` over `values`, option by option inside the method groups."""
    out = dict(values)
    for key, value in overrides.items():
        if key in METHOD_OPTIONS and isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out


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
    lora: LoraOptions = Field(default_factory=LoraOptions)
    oft: OftOptions = Field(default_factory=OftOptions)
    boft: BoftOptions = Field(default_factory=BoftOptions)
    dpo: DpoOptions = Field(default_factory=DpoOptions)
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

    @model_validator(mode="before")
    @classmethod
    def _group_flat_options(cls, data: Any) -> Any:
        return group_options(data) if isinstance(data, dict) else data

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
        if self.method == "dpo" and not (self.dpo.preferences and self.dpo.adapter):
            raise ValueError("method dpo continues an SFT adapter on preference pairs: give "
                             "--adapter RUN and --preferences FILE")
        if self.precision == "fp16" and not _cuda():
            raise ValueError("precision fp16 needs a CUDA GPU; use fp32 (or auto) on CPU")
        return self

    def resolved_lr(self, base_is_tiny: bool) -> float:
        if self.lr is not None:
            return self.lr
        if self.method == "dpo":  # preference tuning moves an already tuned adapter: gently
            return 2e-4 if base_is_tiny else 5e-6
        return 1e-3 if base_is_tiny else 2e-4

    def options(self) -> LoraOptions | OftOptions | BoftOptions:
        """The options of the method this run trains."""
        return getattr(self, self.method)

    def flat(self) -> dict[str, Any]:
        """The configuration in the flat layout: what a run's config.yaml, its model card and its
        MLflow params hold. `dropout` is the dropout of the run's own method."""
        out: dict[str, Any] = {}
        for key, value in self.model_dump(mode="json").items():
            if key not in METHOD_OPTIONS:
                out[key] = value
                continue
            for flat, places in FLAT_OPTIONS.items():
                if places[0][0] != key:
                    continue
                group, option = next((p for p in places if p[0] == self.method), places[0])
                out[flat] = getattr(getattr(self, group), option)
        return out

    def dump(self) -> str:
        return yaml.safe_dump(self.flat(), allow_unicode=True, sort_keys=False)


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
    return {_key(k): {_key(o): x for o, x in v.items()} if k in METHOD_OPTIONS and isinstance(v, dict) else v
            for k, v in data.items()}


def _key(name: Any) -> Any:
    return name.replace("-", "_") if isinstance(name, str) else name


def build_config(config_file: str | os.PathLike | None = None, **overrides: Any) -> TrainConfig:
    """Defaults, then the YAML file, then every override that is not None (flat or grouped)."""
    values = group_options(read_yaml(config_file)) if config_file else {}
    values = _merge(values, group_options({k: v for k, v in overrides.items() if v is not None}))
    if values.get("method") == "dpo":
        values = _from_sft_run(values)
    if "data" not in values:
        raise ConfigError("no dataset given: pass --data DIR (from `tsukeku data build`) or set data: in --config")
    return validate_config(values)


def _from_sft_run(values: dict[str, Any]) -> dict[str, Any]:
    """A DPO run's base and dataset default to those of the SFT run it continues."""
    from tsukeku.training.runs import find_run

    adapter = (values.get("dpo") or {}).get("adapter")
    if not adapter:
        return values
    try:
        run = find_run(adapter, values.get("runs_dir", "runs"))
    except ConfigError:
        return values  # a plain adapter dir (or a missing one: the job says so)
    sft = read_yaml(run / "config.yaml") if (run / "config.yaml").exists() else {}
    return {**{k: sft[k] for k in ("base", "data") if k in sft}, **values}


def validate_config(values: dict[str, Any]) -> TrainConfig:
    """A TrainConfig out of `values` (flat or grouped), or a ConfigError that says what is wrong."""
    try:
        return TrainConfig(**values)
    except ValidationError as err:
        raise ConfigError("invalid training config — " + explain_validation(
            _WithValidOptions(err), default_where="config")) from None


def load_run_config(run_dir: str | os.PathLike) -> TrainConfig:
    """The configuration a run was started with (its config.yaml, of any tsukeku version)."""
    return validate_config(read_yaml(Path(run_dir) / "config.yaml"))


class _WithValidOptions:
    """pydantic's errors with the valid option names spelled out where an option is unknown."""

    def __init__(self, err: ValidationError):
        self.err = err

    def errors(self) -> list[dict[str, Any]]:
        out = []
        for e in self.err.errors():
            if e["type"] == "extra_forbidden":
                if len(e["loc"]) > 1:
                    model = METHOD_OPTIONS.get(str(e["loc"][0]))
                    names = ", ".join(model.model_fields) if model else ""
                else:
                    names = (f"{', '.join(TrainConfig.model_fields)} (and the flat method options "
                             f"{', '.join(FLAT_OPTIONS)})")
                e = {**e, "msg": f"unknown option; valid options: {names}"}
            out.append(e)
        return out
