"""benchmarks/bench_gpu.py: the GPU benchmark skips where there is no CUDA, builds the published
shapes and a 32k byte-fallback tokenizer, and (slow) runs every measurement at a tiny size."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "benchmarks" / "bench_gpu.py"
sys.path.insert(0, str(REPO / "benchmarks"))

# the figure names of issue 16 (a stable interface: docs/architecture.md)
GPU_FIGURES = (
    "gpu_name", "lora_tokens_per_s_rinna_3_6b", "lora_mfu_rinna_3_6b", "peak_memory_gib_rinna_3_6b",
    "lora_mfu_llama_7b", "peak_memory_gib_llama_7b", "packed_vs_padded_tokens_per_s_ratio_rinna_3_6b",
    "merged_vs_base_decode_ratio_rinna_3_6b", "constrained_cost_per_token_ratio_32k",
    "batched_vs_unbatched_throughput_ratio_16_gpu", "token_table_build_s_32k",
    "token_table_cached_load_s_32k",
)


def _run(*args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}  # no GPU, whatever the machine has
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          env=env, timeout=timeout, cwd=REPO)


def test_skips_with_exit_0_without_cuda():
    result_file = REPO / "bench" / "results" / "gpu.json"
    before = result_file.stat().st_mtime if result_file.exists() else None
    r = _run()
    assert r.returncode == 0, r.stderr
    assert "skipped" in r.stdout and "no CUDA GPU" in r.stdout
    after = result_file.stat().st_mtime if result_file.exists() else None
    assert after == before  # nothing written


def test_tiny_never_writes_the_gpu_result_file():
    r = _run("--tiny", "--out", str(REPO / "bench" / "results" / "gpu.json"))
    assert r.returncode == 2
    assert "--tiny writes no GPU figures" in r.stderr


def test_only_takes_section_names(tmp_path):
    r = _run("--tiny", "--only", "train,bogus", "--out", str(tmp_path / "x.json"))
    assert r.returncode == 2
    assert "--only takes table, train, llama, decode, compose, serve, qlora" in r.stderr


@pytest.mark.slow  # ~10 s: the first model build imports the modelling code
def test_published_shapes_have_the_published_sizes():
    import torch
    from gpu_shapes import LLAMA_2_7B, RINNA_3_6B, model_config
    from transformers import AutoModelForCausalLM

    sizes = {}
    for kind, published in (("rinna", RINNA_3_6B), ("llama", LLAMA_2_7B)):
        config = model_config(kind, tiny=False, vocab_size=32000)
        rope = getattr(config, "rope_parameters", None) or {}
        for key, value in published.items():
            if key in ("model_type", "architectures"):
                continue
            # transformers 5 keeps the rotary settings in rope_parameters
            moved = {"rotary_pct": "partial_rotary_factor", "rotary_emb_base": "rope_theta",
                     "rope_theta": "rope_theta"}.get(key)
            actual = getattr(config, key) if hasattr(config, key) else rope.get(moved)
            assert actual == value, key
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(config)
        sizes[kind] = sum(p.numel() for p in model.parameters())
    assert 3.55e9 < sizes["rinna"] < 3.65e9  # "3.6b"
    assert sizes["llama"] == 6_738_415_616  # Llama-2-7B's published parameter count


@pytest.mark.slow  # ~6 s: two 32k builds
def test_tokenizer_is_32k_deterministic_with_byte_fallback():
    from gpu_shapes import SPECIALS, build_tokenizer

    tok = build_tokenizer(32000, SPECIALS["gpt_neox"])
    assert len(tok) == 32000
    assert (tok.bos_token_id, tok.eos_token_id) == (2, 3)  # rinna's config
    text = "前句：山寺の 鐘にほどける 霞かな\n付句（7-7）：鬱"
    ids = tok(text)["input_ids"]
    pieces = tok.convert_ids_to_tokens(ids)
    assert "<0x0A>" in pieces  # the newline has no piece: spelt in bytes
    assert ["<0xE9>", "<0xAC>", "<0xB1>"] == pieces[-3:]  # 鬱, a rare kanji, likewise
    assert tok.decode(ids) == text
    plain = "今日の思い出を季節の花に託して"
    assert len(tok(plain)["input_ids"]) < len(plain)  # words, not only characters
    llama = build_tokenizer(32000, SPECIALS["llama"])
    assert (llama.bos_token_id, llama.eos_token_id, llama.unk_token_id) == (1, 2, 0)
    # built again (other special tokens, one fewer): the same pieces in the same order
    pieces = tok.convert_ids_to_tokens(list(range(4, 32000)))
    assert llama.convert_ids_to_tokens(list(range(3, 31999))) == pieces


def test_peak_table_and_flops():
    from gpu_shapes import peak_bf16_tflops
    from gpu_training import flops_per_token

    assert peak_bf16_tflops("NVIDIA H100 80GB HBM3") == 989.0
    assert peak_bf16_tflops("NVIDIA H100 PCIe") == 756.0
    assert peak_bf16_tflops("NVIDIA H200") == 989.0
    assert peak_bf16_tflops("NVIDIA A100-SXM4-80GB") == 312.0
    assert peak_bf16_tflops("NVIDIA L4") == 121.0
    assert peak_bf16_tflops("NVIDIA L40S") == 362.0
    assert peak_bf16_tflops("NVIDIA A10") == 125.0
    assert peak_bf16_tflops("Tesla V100-SXM2-16GB") is None  # no bf16 tensor cores
    assert flops_per_token(1000, 10) == (4060.0, 6000.0)


@pytest.mark.slow
def test_tiny_run_measures_every_figure(tmp_path):
    out = tmp_path / "gpu-tiny.json"
    # bf16 weights and autocast, and a stated peak: the code paths a GPU run takes
    r = _run("--tiny", "--bf16", "--peak-tflops", "1", "--out", str(out), timeout=900)
    assert r.returncode == 0, r.stderr[-4000:]
    result = json.loads(out.read_text(encoding="utf-8"))
    assert set(result) == {"figures", "machine", "when", "notes"}
    figures = result["figures"]
    missing = [k for k in GPU_FIGURES if k not in figures]
    assert not missing, missing
    assert figures["gpu_name"] == "cpu"
    assert figures["peak_memory_gib_rinna_3_6b"] is None  # CUDA's counter only
    for key in GPU_FIGURES:
        if key not in ("gpu_name", "peak_memory_gib_rinna_3_6b", "peak_memory_gib_llama_7b"):
            assert isinstance(figures[key], int | float) and figures[key] > 0, key
    # MFU: 4 FLOPs per frozen weight + 6 per LoRA weight, beside the 6N convention
    n, lora = figures["rinna_3_6b_matmul_parameters"], figures["lora_trainable_parameters_rinna_3_6b"]
    assert figures["lora_mfu_6n_convention_rinna_3_6b"] / figures["lora_mfu_rinna_3_6b"] == \
        pytest.approx(6 * n / (4 * n + 6 * lora), rel=1e-3)
    assert figures["token_table_build_s_32k"] > figures["token_table_cached_load_s_32k"]
    assert 30 < figures["example_tokens_mean"] < 90  # realistic 付句 lengths
    assert result["notes"].startswith("TINY PROFILE")
    assert "QLoRA skipped" in result["notes"]


@pytest.mark.slow  # ~8 s: the first model build imports the modelling code
def test_packing_check_sees_examples_leak_when_the_config_keeps_a_cache():
    """Published configs have use_cache on; transformers then builds a KV cache in a training
    forward and ignores packed position ids, so packed examples see each other. The benchmark
    turns the cache off for training and checks the rows before timing them."""
    import torch
    from gpu_shapes import build_model, model_config
    from gpu_training import no_cache_in_training, packed_rows_isolated

    from tsukeku.training.data import PackedCollator

    examples = [{"input_ids": list(range(5, 15)), "labels": list(range(5, 15))},
                {"input_ids": list(range(20, 27)), "labels": list(range(20, 27))}]
    collator = PackedCollator(0, 32)
    for kind in ("rinna", "llama"):
        model = build_model(model_config(kind, tiny=True, vocab_size=1000), "cpu", torch.float32)
        assert model.config.use_cache  # as published
        assert not packed_rows_isolated(model, collator, examples, "cpu")
        no_cache_in_training(model)
        assert packed_rows_isolated(model, collator, examples, "cpu")
