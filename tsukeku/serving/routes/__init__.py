"""HTTP routes: sagemaker (container contract), openai (OpenAI-compatible API), ops (health,
metrics). The web page's `ui` and `arena` routers live here too when installed."""
