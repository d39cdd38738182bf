// How a verse is shown everywhere on the page: its text, its reading, and one badge per ku with
// the ku's morae, marked ok / 字余り (one or more too many) / 字足らず (too few).
import { api } from "./api.js";
import { debounce, fill, h } from "./dom.js";

const KIND_CLASS = { "字余り": "over", "字足らず": "under" };

/** Badges for `ku_morae`, using `deviations` ({index, kind, expected, actual}) for the marks. */
export function moraBadges(kuMorae = [], deviations = [], expected = null) {
  const byIndex = new Map((deviations || []).map((d) => [d.index, d]));
  return h(
    "ul",
    { class: "ku-morae", "aria-label": "句ごとの音数 / morae per ku" },
    kuMorae.map((n, k) => {
      const dev = byIndex.get(k);
      if (dev) {
        const want = dev.expected ?? (expected ? expected[k] : "?");
        return h("li", { class: KIND_CLASS[dev.kind] || "under" }, `${n}/${want} ${dev.kind}`);
      }
      const mark = expected || deviations ? " ✓" : "";
      return h("li", { class: "ok" }, `${n}${mark}`);
    }),
  );
}

/** A verse block: text, reading and badges. `v` has text, reading, ku_morae, deviations. */
export function verseBlock(v, extra = []) {
  return h(
    "div",
    { class: "verse" },
    h("div", { class: "text", lang: "ja" }, v.text),
    v.reading ? h("div", { class: "reading", lang: "ja" }, v.reading) : null,
    moraBadges(v.ku_morae, v.deviations),
    extra,
  );
}

/** The form as a badge: "5-7-5 ✓" or "5-7-5 ✗". */
export function formBadge(form, ok) {
  return h("span", { class: `form-badge ${ok ? "ok" : "bad"}` }, `${form} ${ok ? "✓" : "✗"}`);
}

/**
 * Live mora counter under a textarea: asks POST /api/count while the visitor types (debounced,
 * stale answers cancelled). `formOf()` gives the expected form ("auto" to detect it).
 * Returns a function that re-counts now (used after the expected form changes).
 */
export function attachCounter(input, output, formOf = () => "auto", delayMs = 250) {
  let controller = null;
  const run = async () => {
    const text = input.value.trim();
    if (controller) controller.abort();
    if (!text) {
      fill(output);
      return;
    }
    controller = new AbortController();
    try {
      const c = await api("/api/count", {
        body: { text, form: formOf() },
        signal: controller.signal,
      });
      fill(
        output,
        c.form ? formBadge(c.form, c.ok) : h("span", { class: "form-badge" }, "?"),
        " ",
        moraBadges(c.ku_morae, c.deviations, c.expected),
        c.reading ? h("span", { class: "reading", lang: "ja" }, c.reading) : null,
        c.message ? h("span", { class: "error" }, " ", c.message) : null,
      );
    } catch (err) {
      if (err.name === "AbortError") return;
      fill(output, h("span", { class: "error" }, err.message));
    }
  };
  input.addEventListener("input", debounce(run, delayMs));
  return run;
}
