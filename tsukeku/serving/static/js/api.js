// JSON over fetch. Errors from the server ({"error": {"message"}} or FastAPI's {"detail"})
// become ApiError with a message meant for the visitor.

export class ApiError extends Error {
  constructor(message, status, data = null) {
    super(message);
    this.status = status;
    this.data = data; // the error body, e.g. a session's rule violations
  }
}

export async function api(path, { body, method, signal } = {}) {
  const response = await send(path, {
    method: method || (body === undefined ? "GET" : "POST"),
    headers: body === undefined ? {} : { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal,
  });
  const data = await response.json().catch(() => null);
  if (!response.ok) throw failure(response, data);
  return data;
}

// fetch, with a network failure (not an abort) as ApiError
async function send(path, init) {
  try {
    return await fetch(path, init);
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError("サーバーに接続できません / cannot reach the server", 0);
  }
}

function failure(response, data) {
  return new ApiError(messageOf(data) || `HTTP ${response.status}`, response.status, data);
}

function messageOf(data) {
  if (!data) return null;
  if (data.error && data.error.message) return data.error.message;
  if (typeof data.detail === "string") return data.detail;
  if (Array.isArray(data.detail)) return data.detail.map((d) => d.msg).join("; ");
  return null;
}

// Server-sent events of a POST (fetch + ReadableStream): yields each `data:` payload parsed as
// JSON until `[DONE]`. An error status before the stream, or an {"error"} event in it, throws
// ApiError.
export async function* streamEvents(path, { body, signal } = {}) {
  const response = await send(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
    body: JSON.stringify(body),
    signal,
  });
  if (!response.ok || !response.body) {
    throw failure(response, await response.json().catch(() => null));
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) !== -1) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = event.split("\n").filter((l) => l.startsWith("data:"))
        .map((l) => l.slice(5).trimStart()).join("\n");
      if (!data) continue;
      if (data === "[DONE]") return;
      const parsed = JSON.parse(data);
      if (parsed.error) throw new ApiError(messageOf(parsed) || "error", parsed.error.code || 500);
      yield parsed;
    }
  }
}
