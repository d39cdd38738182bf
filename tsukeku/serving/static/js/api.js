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
  let response;
  try {
    response = await fetch(path, {
      method: method || (body === undefined ? "GET" : "POST"),
      headers: body === undefined ? {} : { "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
    });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError("サーバーに接続できません / cannot reach the server", 0);
  }
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    throw new ApiError(messageOf(data) || `HTTP ${response.status}`, response.status, data);
  }
  return data;
}

function messageOf(data) {
  if (!data) return null;
  if (data.error && data.error.message) return data.error.message;
  if (typeof data.detail === "string") return data.detail;
  if (Array.isArray(data.detail)) return data.detail.map((d) => d.msg).join("; ");
  return null;
}
