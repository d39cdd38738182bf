"""The Hugging Face Trainer as a tsukeku run uses it: batches a resumed run replays exactly, and
evaluation as the mean loss per 付句 token (the one definition, `evaluate.target_loss`)."""

from __future__ import annotations

from contextlib import contextmanager

from transformers import Trainer

from tsukeku.training.data import LengthGroupedEpochSampler, SeededRandomSampler
from tsukeku.training.evaluate import target_loss


class TsukekuTrainer(Trainer):
    """The HF Trainer with replayable samplers and a token-weighted 付句 eval loss."""

    def __init__(self, *args, train_lengths, batching: str, eval_collator, **kwargs):
        super().__init__(*args, **kwargs)
        self._lengths = train_lengths
        self._batching = batching
        self._eval_collator = eval_collator

    def _get_train_sampler(self, train_dataset=None):
        if self._batching == "packed":
            # the Trainer's own random sampler (seeded per epoch by accelerate, so a resumed
            # run replays the same order): the batches of a plain HF training script
            return super()._get_train_sampler(train_dataset)
        cls = LengthGroupedEpochSampler if self._batching == "grouped" else SeededRandomSampler
        return cls(self._lengths, self.args.train_batch_size * self.args.gradient_accumulation_steps,
                   seed=self.args.seed)

    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix="eval"):
        ds = eval_dataset if eval_dataset is not None else self.eval_dataset
        m = target_loss(self.model, ds.examples, self._eval_collator,
                        self.args.per_device_eval_batch_size, device=self.args.device)
        metrics = {f"{metric_key_prefix}_loss": m["loss"],
                   f"{metric_key_prefix}_perplexity": m["perplexity"],
                   f"{metric_key_prefix}_target_tokens": m["tokens"]}
        self.log(metrics)
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
        return metrics


@contextmanager
def without_kv_cache(model):
    """Training with the model's KV cache off, restored afterwards (for the merge and serving).

    Published configs (rinna, Llama) ship ``use_cache: true``; with it transformers builds a
    cache even in training and then ignores packed batches' restarting position ids, so each
    packed example would attend to the ones before it in its row."""
    config = model.config
    before = getattr(config, "use_cache", None)
    config.use_cache = False
    try:
        yield model
    finally:
        config.use_cache = before
