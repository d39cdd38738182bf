"""deploy/sagemaker_train.py: the arguments it takes, and the hyperparameters and channels it
hands SageMaker, read back by the job's entry point (tsukeku.training.sagemaker_entry) from a
fake /opt/ml tree laid out as SageMaker lays out a job's (nothing reaches AWS)."""

from __future__ import annotations

import importlib.util
import json
import tarfile
from pathlib import Path

import pytest

from tsukeku.training import sagemaker_entry

SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "sagemaker_train.py"
spec = importlib.util.spec_from_file_location("sagemaker_train", SCRIPT)
st = importlib.util.module_from_spec(spec)
spec.loader.exec_module(st)

ROLE = ["--role", "arn:aws:iam::123456789012:role/SageMaker"]
TRAIN = ["--train", "s3://bucket/tsukeku/data"]
SFT_MODEL = "s3://bucket/jobs/tsukeku-train-1/output/model.tar.gz"
PAIRS = "s3://bucket/tsukeku/prefs/pairs.jsonl"
DPO = [*ROLE, *TRAIN, "--method", "dpo", "--adapter", SFT_MODEL, "--preferences", PAIRS]


def test_dpo_arguments_become_hyperparameters_and_channels():
    args = st.parse_args([*DPO, "--beta", "0.2", "--loss-type", "ipo", "--sft-weight", "0.5",
                          "--hp", "max_steps=10"])
    hp = st.hyperparameters(args)
    # no base: a DPO job trains on its SFT run's base
    assert hp == {"method": "dpo", "beta": 0.2, "loss_type": "ipo", "sft_weight": 0.5,
                  "preferences": "pairs.jsonl", "max_steps": 10}
    assert st.channels(args) == {"train": "s3://bucket/tsukeku/data", "adapter": SFT_MODEL,
                                 "preferences": PAIRS}
    assert st.estimator_kwargs(args)["hyperparameters"] == hp
    assert any(r.startswith("trl") for r in st.requirements(args))


def test_other_methods_are_unchanged():
    args = st.parse_args([*ROLE, *TRAIN])
    assert st.hyperparameters(args) == {"method": "lora", "base": st.DEFAULT_BASE}
    assert st.channels(args) == {"train": "s3://bucket/tsukeku/data"}
    assert not any(r.startswith("trl") for r in st.requirements(args))
    # a DPO job may still name its base (the SFT job had a base channel, or a hub id)
    args = st.parse_args([*DPO, "--base", "tiny", "--base-s3", "s3://bucket/base"])
    assert st.hyperparameters(args)["base"] == "tiny"
    assert st.channels(args)["base"] == "s3://bucket/base"


@pytest.mark.parametrize("argv, says", [
    ([*ROLE, *TRAIN, "--method", "dpo", "--preferences", PAIRS], "--adapter"),
    ([*ROLE, *TRAIN, "--method", "dpo", "--adapter", SFT_MODEL], "--preferences"),
    ([*ROLE, *TRAIN, "--beta", "0.2"], "--beta only apply to --method dpo"),
    ([*ROLE, *TRAIN, "--adapter", SFT_MODEL], "--adapter only apply to --method dpo"),
    ([*DPO, "--loss-type", "kto"], "invalid choice"),
])
def test_bad_dpo_arguments_exit_with_usage(argv, says, capsys):
    with pytest.raises(SystemExit) as exc:
        st.parse_args(argv)
    assert exc.value.code == 2
    assert says in capsys.readouterr().err


def _as_sagemaker_lays_it_out(root: Path, hp: dict, channels: dict[str, str], monkeypatch) -> None:
    """The Hugging Face estimator JSON-encodes each hyperparameter (and adds its sagemaker_*
    keys); each channel is /opt/ml/input/data/<name>, an S3 object copied into it by its name,
    and SM_CHANNEL_<NAME> points at it."""
    config = root / "input" / "config"
    config.mkdir(parents=True)
    encoded = {k: json.dumps(v) for k, v in hp.items()}
    encoded["sagemaker_program"] = json.dumps(st.ENTRY)
    (config / "hyperparameters.json").write_text(json.dumps(encoded))
    for name in ("TRAIN", "BASE", "ADAPTER", "PREFERENCES"):
        monkeypatch.delenv(f"SM_CHANNEL_{name}", raising=False)
    for name, uri in channels.items():
        channel = root / "input" / "data" / name
        channel.mkdir(parents=True)
        monkeypatch.setenv(f"SM_CHANNEL_{name.upper()}", str(channel))
        if name == "adapter":  # the SFT job's model.tar.gz: a run's files, packed at its top
            sft = root / "sft-model"
            sft.mkdir()
            (sft / "run.json").write_text(json.dumps({"status": "completed", "base": "tiny:test"}))
            (sft / "config.yaml").write_text("base: tiny:test\nmethod: lora\n")
            with tarfile.open(channel / uri.rsplit("/", 1)[-1], "w:gz") as tar:
                for item in sft.iterdir():
                    tar.add(item, arcname=item.name)
        elif name == "preferences":
            (channel / uri.rsplit("/", 1)[-1]).write_text("")
            (channel / "older.jsonl").write_text("")  # the prefix matched another file too
    monkeypatch.setenv("TSUKEKU_SM_PREFIX", str(root))
    monkeypatch.setenv("SM_MODEL_DIR", str(root / "model"))
    monkeypatch.setenv("SM_OUTPUT_DATA_DIR", str(root / "output" / "data"))


def test_the_entry_point_reads_a_dpo_launch_as_tsukeku_train_would(tmp_path, monkeypatch):
    """What the launcher sends becomes the config of `tsukeku train --method dpo --adapter
    SFT --preferences FILE --beta … --loss-type … --sft-weight …` inside the job."""
    import tsukeku.training.job as job

    args = st.parse_args([*DPO, "--beta", "0.2", "--loss-type", "ipo", "--sft-weight", "0.5"])
    root = tmp_path / "opt_ml"
    _as_sagemaker_lays_it_out(root, st.hyperparameters(args), st.channels(args), monkeypatch)
    seen = {}

    class Stop(Exception):
        pass

    def train(cfg=None, **kw):  # the training itself is tests/training's
        seen["cfg"] = cfg
        raise Stop

    monkeypatch.setattr(job, "train", train)
    with pytest.raises(Stop):
        sagemaker_entry.run_job(root)
    cfg = seen["cfg"]
    data = root / "input" / "data"
    assert cfg.method == "dpo"
    assert (cfg.dpo.beta, cfg.dpo.loss_type, cfg.dpo.sft_weight) == (0.2, "ipo", 0.5)
    assert cfg.dpo.preferences == str(data / "preferences" / "pairs.jsonl")
    assert Path(cfg.dpo.adapter) == root / "sft-adapter"  # the SFT job's archive, unpacked
    assert (root / "sft-adapter" / "run.json").is_file()
    assert cfg.base == "tiny:test"  # the SFT run's, not a default of the launcher
    assert cfg.data == str(data / "train")
