"""`tsukeku serve`: the real-time endpoint (SageMaker container contract + OpenAI API + the
web page) on uvicorn."""

from __future__ import annotations

from pathlib import Path

import typer

_O = typer.Option


def serve_cmd(
    models: Path | None = _O(
        None, "--models", "-m", envvar="TSUKEKU_MODELS",
        help="models.yaml naming the models to serve, or a directory holding one (a run "
             "dir, a SageMaker model dir, `tsukeku merge --out`). Default: /opt/ml/model when "
             "present (as SageMaker unpacks it), else the tiny offline base as model 'base'.",
    ),
    host: str = _O("127.0.0.1", "--host", envvar="TSUKEKU_HOST",
                   help="address to listen on (0.0.0.0 in the container)"),
    port: int = _O(8080, "--port", "-p", envvar="TSUKEKU_PORT"),
    api_key: str | None = _O(
        None, "--api-key", envvar="TSUKEKU_API_KEY",
        help="require this key (Authorization: Bearer KEY or X-Api-Key: KEY); /ping stays open",
    ),
    cors_origin: list[str] = _O(
        [], "--cors-origin", envvar="TSUKEKU_CORS_ORIGINS",
        help="allow browser calls from this origin (repeatable); CORS is off without it",
    ),
    max_batch: int = _O(8, "--max-batch", envvar="TSUKEKU_MAX_BATCH",
                        help="most requests answered by one generate call"),
    batch_window_ms: float = _O(10.0, "--batch-window-ms", envvar="TSUKEKU_BATCH_WINDOW_MS",
                                help="how long a request waits for others to batch with"),
    no_batching: bool = _O(False, "--no-batching", envvar="TSUKEKU_NO_BATCHING",
                           help="one generate call per request"),
    batching: str = _O("continuous", "--batching", envvar="TSUKEKU_BATCHING",
                       help="continuous: local models decode one running batch that requests "
                            "join and leave between steps (--max-batch requests at most); "
                            "window: fixed windows of --batch-window-ms"),
    timeout_s: float = _O(60.0, "--timeout-s", envvar="TSUKEKU_TIMEOUT_S",
                          help="per-request limit, queueing included (504 past it)"),
    queue_size: int = _O(64, "--queue-size", envvar="TSUKEKU_QUEUE_SIZE",
                         help="requests waiting per model before 429"),
    engine: str = _O("hf", "--engine", envvar="TSUKEKU_ENGINE",
                     help="hf (transformers, CPU or GPU) or vllm (GPU, vllm installed)"),
    shutdown_grace_s: float = _O(30.0, "--shutdown-grace-s",
                                 help="on SIGTERM, how long requests in flight may finish"),
    log_level: str = _O("info", "--log-level", help="debug | info | warning | error"),
    torch_threads: int | None = _O(
        None, "--torch-threads", envvar="TSUKEKU_TORCH_THREADS", min=1,
        help="torch's intra-op threads on CPU (default: $OMP_NUM_THREADS when set, else one "
             "fewer than the usable cores, at least 1: the event loop and the prosody analyser "
             "need a core of their own; docs/serving.md)",
    ),
    database_url: str | None = _O(
        None, "--database-url",
        help="the arena's and sessions' database, shared by every instance: "
             "postgresql://USER:PASSWORD@HOST:5432/DB, or a SQLite file. Default: "
             "$TSUKEKU_DATABASE_URL, else the SQLite file ($TSUKEKU_ARENA_DB or "
             "~/.cache/tsukeku/arena.sqlite3)",
    ),
) -> None:
    """Serve 付句 over HTTP: GET /ping, POST /invocations, POST /endpoints/{name}/invocations
    (and /invocations-response-stream), the OpenAI API under /v1, GET /metrics, GET /health, docs at /docs, the page at /."""
    from tsukeku.serving.app import create_app
    from tsukeku.serving.registry import registry_loader
    from tsukeku.serving.server import prepare_process, serve
    from tsukeku.serving.settings import ServeSettings

    settings = ServeSettings(
        host=host, port=port, api_key=api_key,
        cors_origins=[o for o in split_origins(cors_origin) if o],
        batching=not no_batching, batching_mode=batching, max_batch=max_batch,
        batch_window_ms=batch_window_ms,
        timeout_s=timeout_s, queue_size=queue_size, engine=engine,
        shutdown_grace_s=shutdown_grace_s, log_level=log_level,
    )
    prepare_process(torch_threads)  # before the models load
    loader = registry_loader(models, engine=engine)  # fails fast on a missing file or engine
    serve(create_app(loader, settings, database_url=database_url), settings)


def split_origins(values: list[str]) -> list[str]:
    """--cors-origin is repeatable; the environment variable holds a comma-separated list."""
    return [part.strip() for value in values for part in value.split(",")]


def register(app: typer.Typer) -> None:
    """Adds this area's commands to the top-level app."""
    app.command("serve")(serve_cmd)
