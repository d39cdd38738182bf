"""Running the app on uvicorn: in the foreground (`tsukeku serve`) or in a background thread
(tests, benchmarks, embedding). Shutdown drains: on SIGTERM/SIGINT new requests get 503 while
those in flight finish (up to `shutdown_grace_s`)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI

from tsukeku.serving.logs import configure_logging
from tsukeku.serving.settings import ServeSettings


class DrainingServer(uvicorn.Server):
    """uvicorn's server with a drain before it stops: on shutdown the app first answers new
    requests 503 (with Retry-After; /ping too, so load balancers move on) while still
    listening, until the compositions in flight have finished (or `shutdown_grace_s` passed);
    then uvicorn closes the sockets and waits for the open connections as usual."""

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        app = self.config.app
        service = getattr(getattr(app, "state", None), "service", None)
        if service is not None:
            service.begin_drain()
            deadline = time.monotonic() + service.settings.shutdown_grace_s
            while service.in_flight and not self.force_exit and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
        await super().shutdown(sockets=sockets)


def uvicorn_config(app: FastAPI, settings: ServeSettings, *, port: int | None = None) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port if port is None else port,
        log_config=None,  # our JSON logging (configure_logging), not uvicorn's
        access_log=False,  # RequestContextMiddleware writes one structured line per request
        lifespan="on",
        timeout_graceful_shutdown=settings.shutdown_grace_s,
        timeout_keep_alive=settings.keep_alive_s,
        server_header=False,
    )


def prepare_process(torch_threads: int | None = None) -> None:
    """What a serving process sets for itself before its models load (or, in `tsukeku demo`,
    after training): torch's intra-op threads and glibc's mmap threshold (docs/serving.md)."""
    from tsukeku.serving.memory import fix_mmap_threshold
    from tsukeku.serving.threads import apply_torch_threads

    apply_torch_threads(torch_threads)
    fix_mmap_threshold()


def serve(app: FastAPI, settings: ServeSettings) -> None:
    """Blocks until SIGTERM/SIGINT, then drains and exits."""
    configure_logging(settings.log_level)
    DrainingServer(uvicorn_config(app, settings)).run()


@dataclass
class ServerThread:
    """A server on 127.0.0.1 (a free port unless given) in a daemon thread."""

    server: DrainingServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        return self.server.servers[0].sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self, timeout: float = 30.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)

    def __enter__(self) -> ServerThread:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_in_thread(
    app: FastAPI, settings: ServeSettings | None = None, *, port: int = 0, timeout: float = 30.0
) -> ServerThread:
    settings = settings or app.state.settings
    config = uvicorn_config(app, settings, port=port)
    config.host = "127.0.0.1"
    server = DrainingServer(config)
    thread = threading.Thread(target=server.run, name="tsukeku-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the server thread exited before it started (see the log)")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise TimeoutError("the server did not start in time")
        time.sleep(0.01)
    return ServerThread(server, thread)
