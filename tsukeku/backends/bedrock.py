"""Amazon Bedrock through boto3's `bedrock-runtime` `converse` (e.g. Claude 3 Haiku,
`anthropic.claude-3-haiku-20240307-v1:0`).

One call asks for several 付句, one per line, under a Japanese system prompt that states the
form; our form check filters and ranks them (Bedrock cannot be constrained token by token).
For a seat of a renga session the prompt names it and the seat's checks filter the candidates
(RemoteBackend.compose).
"""

from __future__ import annotations

import time
from typing import Any

from tsukeku.backends import aws
from tsukeku.backends.base import (
    SYSTEM_PROMPT,
    BackendError,
    RemoteBackend,
    guarded,
    prepare,
    result_from_texts,
    samples_for,
    split_lines,
    user_prompt,
)
from tsukeku.generation.rerank import Reranker
from tsukeku.generation.types import ComposeRequest, CompositionResult

MAX_CALLS = 3


class BedrockBackend(RemoteBackend):
    def __init__(self, name: str, *, model_id: str, region: str | None = None,
                 endpoint_url: str | None = None, profile: str | None = None,
                 system: str | None = None, timeout: float = 60.0, oversample: float = 2.0,
                 max_tokens: int = 400, reranker: Reranker | None = None, client: Any = None):
        self.name = name
        self.model_id = model_id
        self.system = system or SYSTEM_PROMPT
        self.oversample = oversample
        self.max_tokens = max_tokens
        self.reranker = reranker or Reranker()
        self.client = client or aws.client("bedrock-runtime", region=region,
                                           endpoint_url=endpoint_url, profile=profile,
                                           timeout=timeout)

    def sample(self, request: ComposeRequest) -> CompositionResult:
        started = time.perf_counter()
        prepared = prepare(request)
        wanted = samples_for(request, self.oversample)
        texts: list[str] = []
        calls = 0
        while len(texts) < wanted and calls < MAX_CALLS:
            calls += 1
            count = wanted - len(texts)
            answer = guarded(f"Bedrock model {self.model_id}", lambda c=count: self.client.converse(
                modelId=self.model_id,
                system=[{"text": self.system}],
                messages=[{"role": "user", "content": [{"text": user_prompt(
                    prepared.previous, prepared.form, prepared.context, c,
                    seat=prepared.seat)}]}],
                inferenceConfig={"maxTokens": self.max_tokens,
                                 "temperature": min(1.0, request.temperature),
                                 "topP": request.top_p},
            ), aws.translate)
            try:
                blocks = answer["output"]["message"]["content"]
                text = "\n".join(b["text"] for b in blocks if "text" in b)
            except (KeyError, TypeError):
                raise BackendError(f"Bedrock model {self.model_id}: unexpected answer "
                                   f"{str(answer)[:200]}") from None
            lines = split_lines(text)
            if not lines:
                break
            texts.extend(lines[:count])
        return result_from_texts(
            prepared, texts, model=self.name, reranker=self.reranker, started=started,
            notes=[f"Amazon Bedrock converse, model {self.model_id} ({calls} call(s))"],
        )
