"""Settings of one server process (CLI flags and environment end up here)."""

from __future__ import annotations

from dataclasses import dataclass, field

from tsukeku.errors import ConfigError

# SageMaker real-time endpoints accept request payloads up to 6 MB; we take it as 6 MiB.
MAX_BODY_BYTES = 6 * 1024 * 1024


@dataclass
class ServeSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    api_key: str | None = None
    cors_origins: list[str] = field(default_factory=list)
    batching: bool = True
    # continuous: local models decode in one running batch that requests join and leave
    # between steps (tsukeku.generation.engine); window: fixed windows of compose_many calls
    batching_mode: str = "continuous"
    max_batch: int = 8  # requests per compose_many call
    batch_window_ms: float = 10.0  # how long the first request of a batch waits for company
    timeout_s: float = 60.0  # per request, queue wait included → 504 past it
    queue_size: int = 64  # waiting requests per model → 429 past it
    remote_concurrency: int = 8  # calls in flight per remote model (not batched)
    max_body_bytes: int = MAX_BODY_BYTES
    default_model: str | None = None  # None: the first model of the registry
    engine: str = "hf"
    shutdown_grace_s: float = 30.0  # in-flight requests get this long to finish on SIGTERM
    retry_after_s: int = 1
    # Longer than the 60 s idle timeout of the load balancers in front (SageMaker, ALB), so
    # that they, not we, close idle connections.
    keep_alive_s: int = 75
    log_level: str = "info"
    warmup: bool = True  # one small composition per local model before /ping says ready

    def __post_init__(self) -> None:
        if not self.api_key:
            from tsukeku.settings import env

            self.api_key = env().api_key or None
        checks = [
            (self.max_batch >= 1, "--max-batch must be at least 1"),
            (self.batch_window_ms >= 0, "--batch-window-ms must be 0 or more"),
            (self.timeout_s > 0, "--timeout-s must be positive"),
            (self.queue_size >= 1, "--queue-size must be at least 1"),
            (0 < self.port < 65536, "--port must be between 1 and 65535"),
            (self.max_body_bytes > 0, "the body limit must be positive"),
            (self.engine in ("hf", "vllm"), "--engine must be 'hf' or 'vllm'"),
            (self.batching_mode in ("continuous", "window"),
             "--batching must be 'continuous' or 'window'"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)
