"""The model card (README.md) of a run: what was trained on what, and the figures it reached."""

from __future__ import annotations

from typing import Any


def _f(x: Any, digits: int = 4) -> str:
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return "n/a" if x is None else str(x)


def _reduction(base: float | None, tuned: float | None) -> str:
    if not base or tuned is None:
        return "n/a"
    return f"{(base - tuned) / base:.1%}"


def model_card(run: dict[str, Any], cfg: dict[str, Any], evaluation: dict[str, Any],
               data: dict[str, Any], env: dict[str, Any]) -> str:
    """README.md of a run: `run` is run.json, `cfg` the flat layout (`TrainConfig.flat()`)."""
    val, val0 = evaluation.get("validation", {}), evaluation.get("validation_base", {})
    test, test0 = evaluation.get("test", {}), evaluation.get("test_base", {})
    train = evaluation.get("train", {})
    splits = data.get("splits", {})
    rows = "\n".join(
        f"| {s} | {c['examples']} | {c['tokens']} | {c['target_tokens']} | {c['truncated']} |"
        for s, c in splits.items()
    )
    method = cfg["method"]
    if method == "lora":
        hp = f"r={cfg['rank']}, alpha={cfg['alpha']}, dropout={cfg['dropout']}"
    elif method == "dpo":
        prefs = data.get("preferences", {})
        hp = (f"DPO β={cfg['beta']}, loss {cfg['loss_type']}, continuing the SFT adapter "
              f"`{cfg['adapter']}` (also the reference model) on {prefs.get('train_pairs', '?')} "
              f"preference pairs of `{cfg['preferences']}` ({prefs.get('synthetic', 0)} synthetic)")
    elif method == "oft":
        hp = f"block size {cfg['oft_block_size']}, module dropout {cfg['dropout']}"
    else:
        hp = (f"block size {cfg['boft_block_size']}, butterfly factor "
              f"{cfg['boft_butterfly_factor']}, dropout {cfg['dropout']}")
    dev = env.get("device", {})
    git = env.get("git", {})
    pref = evaluation.get("preferences")
    pref_line = "" if not pref else (
        f"\nOn {pref['pairs']} held-out preference pairs the implicit reward (log π − log π_ref "
        f"against the base) prefers the chosen verse in {_f(pref['accuracy_vs_base'], 3)} of pairs "
        f"(the SFT adapter: {_f(pref['accuracy_vs_base_sft'], 3)}).\n")
    return f"""---
library_name: peft
base_model: {run.get('base_resolved', cfg['base'])}
language: ja
tags: [tsukeku, renga, {method}]
---
# {run['name']}

A {method.upper()} adapter that answers a 前句 with a 付句 (長句 5-7-5 ↔ 短句 7-7), trained by
`tsukeku train` on `{cfg['data']}`.

## Results (loss per 付句 token; the prompt is not counted)

| split | base | adapter | reduction |
|---|---|---|---|
| validation | {_f(val0.get('loss'))} | {_f(val.get('loss'))} | {_reduction(val0.get('loss'), val.get('loss'))} |
| test | {_f(test0.get('loss'))} | {_f(test.get('loss'))} | {_reduction(test0.get('loss'), test.get('loss'))} |

Training: {train.get('steps')} optimizer steps, {train.get('tokens')} non-padding tokens in
{_f(train.get('seconds'), 1)} s of training time ({_f(train.get('tokens_per_s'), 1)} tokens/s),
final training loss {_f(train.get('final_loss'))}.
{pref_line}
## Setup

- base: `{cfg['base']}` ({run.get('base_resolved', '')}), {run.get('total_params', 'n/a'):,} parameters
- method: {method} on {', '.join(run.get('target_modules', []))} ({hp});
  {run.get('trainable_params', 'n/a'):,} trainable parameters
- lr {run.get('lr')} ({cfg['schedule']}, warmup {cfg['warmup_ratio']:.0%}), batch {cfg['batch_size']} ×
  accumulation {cfg['grad_accum']}, max length {cfg['max_length']}, seed {cfg['seed']},
  precision {run.get('precision')}
- prompt template: `{data.get('prompt_template')}` (saved as prompt.json)
- device: {dev.get('type')} {dev.get('name', '')}; code at commit {git.get('commit') or 'n/a'}

| split | examples | tokens | 付句 tokens | truncated |
|---|---|---|---|---|
{rows}

## Use

```bash
tsukeku merge {run['run_dir']} --out merged-model   # a plain HF model with the adapter merged
```

```python
from tsukeku.models import load_model
model, tokenizer = load_model("{cfg['base']}", adapter="{run['run_dir']}")
```
"""
