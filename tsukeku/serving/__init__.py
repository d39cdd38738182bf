"""The real-time endpoint: SageMaker container contract, OpenAI-compatible API, batching, limits.

`create_app(registry, settings)` (in `tsukeku.serving.app`) builds the FastAPI app; `tsukeku serve`
runs it on uvicorn. Importing this package stays light (no torch, no FastAPI).
"""

from tsukeku.serving.settings import ServeSettings

__all__ = ["ServeSettings"]
