// 付け比べ: one request per configured model, all sent at once; each card shows its model's
// candidates as they are decoded (the OpenAI chat stream, token by token), then the checked
// result with the latency the server measured and the time the page waited.
import { streamEvents } from "./api.js";
import { fill, h, status } from "./dom.js";
import { attachCounter, formBadge, verseBlock } from "./verse.js";

export function setupSide(models) {
  const form = document.getElementById("side-form");
  const input = document.getElementById("side-input");
  const results = document.getElementById("side-results");
  const statusLine = document.getElementById("side-status");
  const submit = document.getElementById("side-submit");
  attachCounter(input, document.getElementById("side-counter"));

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const previous = input.value.trim();
    if (!previous) {
      status(statusLine, "前句を入力してください / type a 前句 first", { error: true });
      input.focus();
      return;
    }
    if (models.length === 0) {
      status(statusLine, "モデルが設定されていません / no models configured", { error: true });
      return;
    }
    const n = Number(document.getElementById("side-n").value);
    const constrained = document.getElementById("side-constrained").checked;
    submit.disabled = true;
    status(statusLine, `${models.length} モデルに問い合わせ中… / asking ${models.length} models…`);
    const cards = models.map((name) => {
      const card = h("article", { class: "card pending", "data-model": name, "aria-busy": "true" },
        h("h2", {}, name, h("span", { class: "latency" }, "…")));
      return card;
    });
    fill(results, cards);
    const started = performance.now();
    await Promise.all(
      models.map(async (name, k) => {
        try {
          const result = await streamInto(cards[k], name, { previous, n, constrained });
          showResult(cards[k], name, result, performance.now() - started);
        } catch (err) {
          showError(cards[k], name, err.message);
        }
      }),
    );
    submit.disabled = false;
    status(statusLine, `前句: ${previous}`);
  });
}

// Fills the card's list as the chunks come (textContent only); returns the form report that
// the last chunk carries.
async function streamInto(card, name, { previous, n, constrained }) {
  const list = h("ol", { class: "streamed", "aria-live": "polite" });
  fill(card, h("h2", {}, name, h("span", { class: "latency" }, "…")), list);
  const items = [];
  const slot = (i) => {
    while (items.length <= i) {
      const li = h("li", {});
      items.push(li);
      list.append(li);
    }
    return items[i];
  };
  const body = { model: name, n, constrained, stream: true,
                 messages: [{ role: "user", content: previous }] };
  let report = null;
  for await (const chunk of streamEvents("/v1/chat/completions", { body })) {
    if (chunk.tsukeku && (!chunk.choices || chunk.choices.length === 0)) {
      report = chunk.tsukeku;
      continue;
    }
    for (const choice of chunk.choices || []) {
      const li = slot(choice.index);
      const text = (choice.delta && choice.delta.content) || "";
      if (choice.tsukeku && choice.tsukeku.restart) li.textContent = text;
      else if (text) li.textContent += text;
      if (choice.finish_reason) li.classList.add("done");
    }
  }
  if (!report) throw new Error("応答が途中で切れました / the stream ended early");
  return report;
}

function showResult(card, name, result, waitedMs) {
  card.classList.remove("pending");
  card.removeAttribute("aria-busy");
  fill(
    card,
    h("h2", {}, name,
      h("span", { class: "latency", title: "生成時間 / generation; 待ち時間 / waited in the page" },
        `${Math.round(result.latency_ms)} ms (${Math.round(waitedMs)} ms)`)),
    h("p", { class: "previous" }, "付句の形 / form ", formBadge(result.form, result.candidates.every((c) => c.ok))),
    h("ol", { class: "candidates" }, result.candidates.map((c) => h("li", {}, verseBlock(c)))),
    result.notes && result.notes.length ? h("p", { class: "hint" }, result.notes.join(" · ")) : null,
  );
}

function showError(card, name, message) {
  card.classList.remove("pending");
  card.classList.add("error");
  card.removeAttribute("aria-busy");
  fill(card, h("h2", {}, name), h("p", { class: "error", role: "alert" }, message));
}
