"""The process environment (`TSUKEKU_*` and the platform variables we honour), read in one place.

`env()` builds a fresh `Environment` on each call, so a variable set after import (a test's
monkeypatch, a SageMaker container's late export) is seen; reading it costs microseconds and is
never on a per-token path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _flag(*names: str) -> Any:
    return Field(default=False, validation_alias=AliasChoices(*names))


class Environment(BaseSettings):
    """Every environment variable tsukeku reads; flags and CLI options override these."""

    # an empty variable counts as unset (as `os.environ.get(...) or default` did), not as a bad value
    model_config = SettingsConfigDict(env_prefix="TSUKEKU_", extra="ignore", populate_by_name=True,
                                      env_ignore_empty=True)

    home: Path | None = None  # caches: tiny base, token tables (default ~/.cache/tsukeku)
    shared_data: Path | None = None  # reference data for tests and benchmarks (../shared/data)
    lexicon: Path | None = None  # an extra poetic lexicon TSV merged over the bundled one
    zenodo_url: str | None = None  # mirror of the Hachidaishu dataset
    api_key: str | None = None  # the server's API key
    arena_db: Path | None = None  # the arena's SQLite file
    arena_votes_per_minute: str | None = None  # vote rate limit per client (validated by its user)
    database_url: str | None = None  # a shared database for the arena and sessions
    # or an AWS Secrets Manager secret holding it (a URL, or RDS's JSON: host, port, username, …)
    database_secret: str | None = None
    # The served model directory (SageMaker's /opt/ml/model) and what to serve from it.
    model_dir: Path = Path("/opt/ml/model")
    base: str | None = None
    model_name: str = "model"
    vllm_max_loras: int = 4
    vllm_max_lora_rank: int = 64
    vllm_constraints: bool = True  # the mora constraint as a vLLM logits processor (off: filter)
    sm_prefix: Path = Path("/opt/ml")  # root of the SageMaker training layout (tests move it)
    # Platform variables, read under their own names.
    hf_hub_offline: bool = _flag("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    world_size: int = Field(default=1, validation_alias=AliasChoices("WORLD_SIZE"))
    training_job_name: str | None = Field(
        default=None, validation_alias=AliasChoices("TRAINING_JOB_NAME")
    )
    sm_channel_base: Path | None = Field(
        default=None, validation_alias=AliasChoices("SM_CHANNEL_BASE")
    )
    # DPO on SageMaker: the preference pairs and the SFT adapter (run or model dir) it continues
    sm_channel_preferences: Path | None = Field(
        default=None, validation_alias=AliasChoices("SM_CHANNEL_PREFERENCES")
    )
    sm_channel_adapter: Path | None = Field(
        default=None, validation_alias=AliasChoices("SM_CHANNEL_ADAPTER")
    )
    # SageMaker's training contract; unset: the same places under sm_prefix.
    sm_channel_train: Path | None = Field(
        default=None, validation_alias=AliasChoices("SM_CHANNEL_TRAIN")
    )
    sm_model_dir: Path | None = Field(default=None, validation_alias=AliasChoices("SM_MODEL_DIR"))
    sm_output_data_dir: Path | None = Field(
        default=None, validation_alias=AliasChoices("SM_OUTPUT_DATA_DIR")
    )


def env() -> Environment:
    """The environment as it is now."""
    return Environment()
