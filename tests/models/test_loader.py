import pytest

from tsukeku.errors import ConfigError, ModelError
from tsukeku.models import CATALOG, load_model, lookup
from tsukeku.models.loader import resolve_adapter_dir


def test_load_model_local_dir(tiny_base):
    model, tok = load_model(tiny_base, device="cpu")
    assert not model.training
    assert tok.pad_token_id is not None and tok.padding_side == "right"
    assert str(next(model.parameters()).dtype) == "torch.float32"


def test_hub_id_unreachable_offline_is_a_model_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelError, match="offline"):
        load_model("tsukeku-nonexistent/no-such-model-7b", device="cpu")


def test_missing_local_dir_and_non_model_dir(tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        load_model(str(tmp_path / "nope" / "model"), device="cpu")
    with pytest.raises(ModelError, match="config.json"):
        load_model(tmp_path, device="cpu")
    with pytest.raises(ModelError, match="adapter"):
        resolve_adapter_dir(tmp_path)


def test_four_bit_needs_cuda(tiny_base):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA; the CPU refusal is what is tested here")
    with pytest.raises(ConfigError, match="CUDA"):
        load_model(tiny_base, device="cpu", load_in_4bit=True)


def test_bad_dtype(tiny_base):
    with pytest.raises(ConfigError, match="dtype"):
        load_model(tiny_base, dtype="int3", device="cpu")


def test_catalog_targets_name_real_modules():
    """The catalog's module names exist in (tiny, randomly initialised) models of each
    architecture it lists."""
    import torch
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM, LlamaConfig, LlamaForCausalLM

    from tsukeku.training.methods import linear_module_names

    small = {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
             "intermediate_size": 64, "vocab_size": 64}
    models = {"gpt_neox": GPTNeoXForCausalLM(GPTNeoXConfig(**small)),
              "llama": LlamaForCausalLM(LlamaConfig(**small, num_key_value_heads=2))}
    assert {"rinna/japanese-gpt-neox-3.6b", "rinna/japanese-gpt-neox-3.6b-instruction-sft-v2",
            "elyza/ELYZA-japanese-Llama-2-7b-instruct"} <= set(CATALOG)
    for entry in CATALOG.values():
        names = linear_module_names(models[entry.architecture])
        assert set(entry.lora_targets) <= set(names), entry.id
        assert set(entry.oft_targets) <= set(names), entry.id
        assert entry.prompt_style in ("completion", "instruction", "chat")
    assert isinstance(models["llama"].lm_head, torch.nn.Linear)
    assert "lm_head" not in linear_module_names(models["llama"])


def test_lookup():
    assert lookup(None).id == "tiny"
    assert lookup("rinna/japanese-gpt-neox-3.6b").architecture == "gpt_neox"
    assert lookup("/data/models/rinna/japanese-gpt-neox-3.6b/").id == "rinna/japanese-gpt-neox-3.6b"
    assert lookup("someone/else") is None


def test_adapter_config_of_an_adapter_dir_or_its_run_dir(tmp_path):
    import json

    from peft import LoraConfig, OFTConfig

    from tsukeku.models import adapter_config

    run = tmp_path / "run"
    LoraConfig(r=4, target_modules=["dense"], base_model_name_or_path="/bases/one").save_pretrained(
        run / "adapter")
    for where in (run, run / "adapter"):
        config = adapter_config(where)
        assert isinstance(config, LoraConfig) and config.r == 4
        assert config.base_model_name_or_path == "/bases/one" and config.peft_type.value == "LORA"
    OFTConfig(r=0, oft_block_size=8, target_modules=["dense"]).save_pretrained(tmp_path / "oft")
    assert adapter_config(tmp_path / "oft").peft_type.value == "OFT"
    (run / "adapter" / "adapter_config.json").write_text(json.dumps({"peft_type": "NO_SUCH_METHOD"}))
    with pytest.raises(ModelError, match="not a readable PEFT adapter config"):
        adapter_config(run)
    with pytest.raises(ModelError, match="no PEFT adapter"):
        adapter_config(tmp_path / "empty")
