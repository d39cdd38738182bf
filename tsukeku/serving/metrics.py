"""Prometheus metrics of one app. Each app has its own registry, so that several apps in one
process (tests, the benchmark) never share or clash over counters."""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
_BATCH_BUCKETS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 64)


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "tsukeku_http_requests_total",
            "HTTP requests answered, by route template, method and status code.",
            ["route", "method", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "tsukeku_http_request_duration_seconds",
            "Time from the request's arrival to the end of its response, by route template.",
            ["route", "method"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge(
            "tsukeku_http_requests_in_flight", "HTTP requests being answered now.", registry=r
        )
        self.batch_size = Histogram(
            "tsukeku_batch_size",
            "Requests answered by one backend call (compose_many, or compose unbatched).",
            ["model"],
            buckets=_BATCH_BUCKETS,
            registry=r,
        )
        self.batches = Counter(
            "tsukeku_batches_total", "Backend calls made, by model.", ["model"], registry=r
        )
        self.batch_seconds = Histogram(
            "tsukeku_batch_duration_seconds",
            "Wall time of one backend call, by model.",
            ["model"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.queue_depth = Gauge(
            "tsukeku_queue_depth", "Requests waiting for a backend call, by model.", ["model"],
            registry=r,
        )
        self.compositions = Counter(
            "tsukeku_compositions_total",
            "Composition requests by model and outcome (ok, timeout, queue_full, error).",
            ["model", "outcome"],
            registry=r,
        )
        self.models_loaded = Gauge(
            "tsukeku_models_loaded", "Models ready to answer (0 while loading).", registry=r
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
