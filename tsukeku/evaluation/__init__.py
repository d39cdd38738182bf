"""Measuring models: form adherence, novelty, diversity, held-out loss, latency, arena ratings."""
