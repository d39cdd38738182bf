// 連歌: the visitor and a model take turns. Verse k of the chain is a 長句 (5-7-5) when k is
// even and a 短句 (7-7) when odd; the visitor's verse is checked against that form, the model
// answers with the other form of the last verse. The chain is kept in localStorage.
import { api } from "./api.js";
import { download, fill, h, status } from "./dom.js";
import { attachCounter, verseBlock } from "./verse.js";

const STORAGE_KEY = "tsukeku.renga.chain";
const KIND = { "5-7-5": "長句", "7-7": "短句" };

const expectedForm = (chain) => (chain.length % 2 === 0 ? "5-7-5" : "7-7");

export function setupRenga(models) {
  const $ = (id) => document.getElementById(id);
  const list = $("renga-chain");
  const input = $("renga-input");
  const statusLine = $("renga-status");
  const modelSelect = $("renga-model");
  const addAnyway = $("renga-add-anyway");
  let chain = load();
  let pending = null; // a checked verse that failed its form, waiting for "add anyway"

  fill(modelSelect, models.map((m) => h("option", { value: m }, m)));
  const recount = attachCounter(input, $("renga-counter"), () => expectedForm(chain));
  input.addEventListener("input", () => {
    pending = null;
    addAnyway.hidden = true;
  });

  function render() {
    fill(
      list,
      chain.map((v, k) =>
        h("li", { class: "verse-item", "data-by": v.by },
          h("span", { class: "form-badge" }, `${k + 1} ${v.kind}`),
          h("span", { class: "by" }, v.by === "human" ? "人 / you" : `モデル / model: ${v.model}`),
          verseBlock(v)),
      ),
    );
    const form = expectedForm(chain);
    $("renga-next-label").textContent =
      `次の句: ${KIND[form]} ${form}` + (chain.length === 0 ? " (発句 / hokku)" : "");
    $("renga-empty").hidden = chain.length > 0;
    $("renga-ai").disabled = chain.length === 0 || models.length === 0;
    localStorage.setItem(STORAGE_KEY, JSON.stringify(chain));
  }

  function append(verse) {
    chain.push(verse);
    render();
    recount();
  }

  async function modelTurn() {
    if (chain.length === 0) return;
    const model = modelSelect.value;
    const form = expectedForm(chain);
    $("renga-ai").disabled = true;
    status(statusLine, `${model} が付けています… / ${model} is composing…`);
    try {
      const result = await api("/api/compose", {
        // The last verses are context enough (renga links to the previous verse, and shifts away from
        // the one before it); this keeps long chains within the request limits.
        body: { previous: chain.slice(-10).map((v) => v.text), model, n: 3, form },
      });
      const best = result.candidates[0];
      append({ ...best, form, kind: KIND[form], by: "model", model: result.model || model });
      status(statusLine, `${result.model || model}: ${Math.round(result.latency_ms)} ms`);
    } catch (err) {
      status(statusLine, err.message, { error: true });
    } finally {
      $("renga-ai").disabled = chain.length === 0 || models.length === 0;
    }
  }

  function addHuman(check) {
    pending = null;
    addAnyway.hidden = true;
    input.value = "";
    append({
      text: check.text, reading: check.reading, ku_morae: check.ku_morae, ok: check.ok,
      deviations: check.deviations, form: check.expected_form, kind: KIND[check.expected_form],
      by: "human",
    });
    if ($("renga-auto").checked && models.length > 0) return modelTurn();
  }

  $("renga-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) {
      status(statusLine, "句を入力してください / type a verse", { error: true });
      return;
    }
    const form = expectedForm(chain);
    try {
      const check = await api("/api/count", { body: { text, form } });
      check.expected_form = form;
      if (check.ok) {
        status(statusLine, "");
        await addHuman(check);
      } else {
        pending = check;
        addAnyway.hidden = false;
        const why = check.message ||
          check.deviations.map((d) => `${d.index + 1}句目 ${d.kind} (${d.actual}/${d.expected})`).join("、");
        status(statusLine, `${form} になっていません: ${why} — 直すか「このまま付ける」 / fix it or add anyway`, { error: true });
      }
    } catch (err) {
      status(statusLine, err.message, { error: true });
    }
  });
  addAnyway.addEventListener("click", () => pending && addHuman(pending));
  $("renga-ai").addEventListener("click", modelTurn);
  $("renga-vertical").addEventListener("change", (e) => list.classList.toggle("vertical", e.target.checked));
  $("renga-new").addEventListener("click", () => {
    if (chain.length && !window.confirm("今の連歌を消して新しく始めますか？ / Start a new chain?")) return;
    chain = [];
    status(statusLine, "");
    render();
    input.focus();
  });
  $("renga-export-text").addEventListener("click", () =>
    download("renga.txt", asText(chain), "text/plain;charset=utf-8"));
  $("renga-export-json").addEventListener("click", () =>
    download("renga.json", JSON.stringify(asJson(chain), null, 2) + "\n", "application/json"));
  render();
}

/** One verse a line: number, kind, who, text (reading). */
export function asText(chain) {
  return chain
    .map((v, k) => `${k + 1}\t${v.kind}\t${v.by === "human" ? "人" : v.model}\t${v.text}\t（${v.reading || ""}）`)
    .join("\n") + "\n";
}

/** The chain in the corpus's chain shape (verses with text, reading, kind, author). */
export function asJson(chain) {
  return {
    form: "連歌",
    created: new Date().toISOString(),
    verses: chain.map((v) => ({
      text: v.text,
      reading: v.reading || "",
      kind: v.kind,
      author: v.by === "human" ? "human" : v.model,
      ku_morae: v.ku_morae || [],
      ok: Boolean(v.ok),
    })),
  };
}

function load() {
  try {
    const saved = JSON.parse(localStorage.getItem(STORAGE_KEY) || "[]");
    return Array.isArray(saved) ? saved.filter((v) => v && typeof v.text === "string") : [];
  } catch {
    return [];
  }
}
