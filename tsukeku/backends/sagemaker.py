"""A SageMaker real-time endpoint (ours, `tsukeku serve` in the container) through boto3's
`sagemaker-runtime` `invoke_endpoint`.

Request body: `{"inputs": previous, "parameters": {n, form, constrained, temperature, top_p,
top_k, max_new_tokens, seed, adapter, jiamari, model}}`; answer: `{previous, form,
candidates: [{text, reading, ku_morae, ok, score}], model, latency_ms, notes?}`. Every
candidate is checked again here by our own form checker (the endpoint may run another version).
The invocation body has no seat: for a seat of a renga session the candidates are sampled as
usual and filtered by the seat's checks here (RemoteBackend.compose).
"""

from __future__ import annotations

import json
import time
from typing import Any

from tsukeku.backends import aws
from tsukeku.backends.base import BackendError, RemoteBackend, guarded, prepare
from tsukeku.generation.candidates import check_candidate
from tsukeku.generation.types import Candidate, ComposeRequest, CompositionResult


class SageMakerBackend(RemoteBackend):
    def __init__(self, name: str, *, endpoint_name: str, region: str | None = None,
                 endpoint_url: str | None = None, profile: str | None = None,
                 target_model: str | None = None, timeout: float = 60.0, client: Any = None):
        self.name = name
        self.endpoint_name = endpoint_name
        self.target_model = target_model
        self.client = client or aws.client("sagemaker-runtime", region=region,
                                           endpoint_url=endpoint_url, profile=profile,
                                           timeout=timeout)

    def body(self, request: ComposeRequest) -> dict[str, Any]:
        params: dict[str, Any] = {
            "n": request.n, "form": request.form, "constrained": request.constrained,
            "temperature": request.temperature, "top_p": request.top_p, "top_k": request.top_k,
            "max_new_tokens": request.max_new_tokens,
        }
        for key in ("seed", "adapter"):
            if getattr(request, key) is not None:
                params[key] = getattr(request, key)
        if request.jiamari:
            params["jiamari"] = True
        if self.target_model:
            params["model"] = self.target_model
        return {"inputs": request.previous, "parameters": params}

    def sample(self, request: ComposeRequest) -> CompositionResult:
        started = time.perf_counter()
        prepared = prepare(request)  # bad input fails here, before a paid call
        service = f"SageMaker endpoint {self.endpoint_name!r}"
        answer = guarded(service, lambda: self.client.invoke_endpoint(
            EndpointName=self.endpoint_name, ContentType="application/json",
            Accept="application/json",
            Body=json.dumps(self.body(request), ensure_ascii=False).encode("utf-8"),
        ), aws.translate)
        raw = answer["Body"].read()
        try:
            data = json.loads(raw)
            items = data["candidates"]
            assert isinstance(items, list)
        except (ValueError, KeyError, TypeError, AssertionError):
            raise BackendError(f"{service}: the answer is not a composition "
                               f"(got {raw[:200]!r})") from None
        candidates = [self._candidate(item, prepared.form, request.jiamari) for item in items]
        form = data.get("form", prepared.form)
        notes = list(data.get("notes") or [])
        broken = [c.text for c in candidates if not c.ok]
        notes.append(f"{service}: {len(candidates)} candidate(s), each checked again locally"
                     + (f"; {len(broken)} not of the form {form}" if broken else ""))
        return CompositionResult(
            previous=request.previous, form=form, candidates=candidates,
            model=self.name, constrained=bool(data.get("constrained", False)) and not broken,
            notes=notes, latency_ms=round((time.perf_counter() - started) * 1000, 1),
        )

    @staticmethod
    def _candidate(item: Any, form: str, jiamari: bool) -> Candidate:
        if isinstance(item, str):
            item = {"text": item}
        text = str(item.get("text", ""))
        report, text, _ = check_candidate(text, form, jiamari=jiamari, split_unspaced=False)
        return Candidate(
            text=text,
            reading=" ".join(report.readings) if report else str(item.get("reading", "")),
            ku_morae=list(report.ku_morae) if report else list(item.get("ku_morae", [])),
            ok=bool(report and report.ok),
            deviations=[d.to_dict() for d in report.deviations] if report else [],
            logprob=item.get("logprob"),
            score=float(item.get("score", 0.0) or 0.0),
        )
