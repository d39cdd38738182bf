"""Known-good Japanese causal LM bases: architecture, PEFT target modules and prompt style.

The catalog is advice, not a whitelist: any causal LM given by hub id or local dir can be trained;
for one that is not listed, target modules are found by inspecting its Linear layers
(`tsukeku.training.methods.resolve_target_modules`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class BaseModelInfo:
    """What we know about one base model."""

    id: str
    architecture: str  # the transformers `model_type`
    params: str  # order of magnitude, for humans
    prompt_style: str  # a tsukeku.prompts template name: completion | instruction | chat
    lora_targets: tuple[str, ...]
    oft_targets: tuple[str, ...]
    tokenizer_use_fast: bool = True
    min_gpu_gib_lora_bf16: float | None = None  # LoRA on a bf16 base, batch 8 × 128 tokens
    min_gpu_gib_qlora: float | None = None  # LoRA on a 4-bit base
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["lora_targets"] = list(self.lora_targets)
        d["oft_targets"] = list(self.oft_targets)
        return d


# Module names per architecture. GPT-NeoX fuses q/k/v into one projection; LoRA on the fused
# projection plus the attention output is the setting rinna and most GPT-NeoX recipes use.
# OFT rotates the input space of a layer, so it is put on the same attention projections.
ARCHITECTURE_TARGETS: dict[str, dict[str, tuple[str, ...]]] = {
    "gpt_neox": {
        "lora": ("query_key_value", "dense"),
        "oft": ("query_key_value", "dense"),
        "all": ("query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"),
    },
    "llama": {
        "lora": ("q_proj", "k_proj", "v_proj", "o_proj"),
        "oft": ("q_proj", "v_proj"),
        "all": ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"),
    },
    "mistral": {
        "lora": ("q_proj", "k_proj", "v_proj", "o_proj"),
        "oft": ("q_proj", "v_proj"),
        "all": ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"),
    },
    "gpt2": {"lora": ("c_attn", "c_proj"), "oft": ("c_attn",), "all": ("c_attn", "c_proj", "c_fc")},
}


def _neox(id_: str, params: str, style: str, **kw: Any) -> BaseModelInfo:
    t = ARCHITECTURE_TARGETS["gpt_neox"]
    return BaseModelInfo(id_, "gpt_neox", params, style, t["lora"], t["oft"], **kw)


def _llama(id_: str, params: str, style: str, **kw: Any) -> BaseModelInfo:
    t = ARCHITECTURE_TARGETS["llama"]
    return BaseModelInfo(id_, "llama", params, style, t["lora"], t["oft"], **kw)


CATALOG: dict[str, BaseModelInfo] = {
    m.id: m
    for m in (
        _neox(
            "tiny",
            "≈2.3M",
            "completion",
            notes="The offline base built by `tsukeku base build-tiny` from the bundled corpus; "
            "CPU, seconds per run. For tests, demos and benchmarks, not for good verse.",
        ),
        _neox(
            "rinna/japanese-gpt-neox-3.6b",
            "3.6B",
            "completion",
            tokenizer_use_fast=False,
            min_gpu_gib_lora_bf16=16,
            min_gpu_gib_qlora=8,
            notes="Base LM trained on Japanese CC-100, C4 and Wikipedia; SentencePiece tokenizer "
            "(rinna recommend use_fast=False). The base the booth used.",
        ),
        _neox(
            "rinna/japanese-gpt-neox-3.6b-instruction-sft-v2",
            "3.6B",
            "instruction",
            tokenizer_use_fast=False,
            min_gpu_gib_lora_bf16=16,
            min_gpu_gib_qlora=8,
            notes="Instruction-tuned rinna 3.6B; its own turns are 'ユーザー: …<NL>システム: ' "
            "with '<NL>' for newlines.",
        ),
        _neox(
            "rinna/japanese-gpt-neox-small",
            "110M",
            "completion",
            tokenizer_use_fast=False,
            min_gpu_gib_lora_bf16=2,
            notes="Small rinna GPT-NeoX; fits a laptop CPU for quick real-base trials.",
        ),
        _neox(
            "cyberagent/open-calm-1b",
            "1.4B",
            "completion",
            min_gpu_gib_lora_bf16=8,
            min_gpu_gib_qlora=4,
            notes="CyberAgent OpenCALM 1B (GPT-NeoX), Japanese Wikipedia and Common Crawl.",
        ),
        _neox(
            "cyberagent/open-calm-7b",
            "6.8B",
            "completion",
            min_gpu_gib_lora_bf16=24,
            min_gpu_gib_qlora=12,
            notes="CyberAgent OpenCALM 7B (GPT-NeoX).",
        ),
        _llama(
            "elyza/ELYZA-japanese-Llama-2-7b-instruct",
            "6.7B",
            "chat",
            min_gpu_gib_lora_bf16=24,
            min_gpu_gib_qlora=10,
            notes="Llama 2 7B with Japanese continued pretraining and instruction tuning; the "
            "Llama-2 [INST] <<SYS>> prompt format.",
        ),
        _llama(
            "elyza/ELYZA-japanese-Llama-2-7b",
            "6.7B",
            "completion",
            min_gpu_gib_lora_bf16=24,
            min_gpu_gib_qlora=10,
            notes="The base (not instruction-tuned) ELYZA Llama 2 7B.",
        ),
    )
}


def lookup(name_or_path: str | None) -> BaseModelInfo | None:
    """The catalog entry for a hub id (or a local dir named like one), else None."""
    if name_or_path is None:
        return CATALOG["tiny"]
    key = str(name_or_path).rstrip("/")
    if key in CATALOG:
        return CATALOG[key]
    # a local snapshot such as ~/models/rinna/japanese-gpt-neox-3.6b
    for entry in CATALOG.values():
        if "/" in entry.id and key.endswith(entry.id):
            return entry
    return None


def targets_for_architecture(model_type: str, method: str) -> tuple[str, ...] | None:
    """Default target modules for a `model_type` and a PEFT method (lora, oft, boft)."""
    arch = ARCHITECTURE_TARGETS.get(model_type)
    if arch is None:
        return None
    return arch["lora" if method == "lora" else "oft"]
