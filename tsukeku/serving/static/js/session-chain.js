// The chain of a session in vertical writing (縦書き): one block per section (表/裏/名残…),
// verses right to left, each with its seat, author and any rule the host accepted.
// Every string from the server is visitor-written: it goes through h() (text nodes) only.
import { fill, h } from "./dom.js";

export function renderChain(el, session) {
  const sections = [];
  for (const v of session.verses) {
    let sec = sections[sections.length - 1];
    if (!sec || sec.name !== v.section) {
      sec = { name: v.section, verses: [] };
      sections.push(sec);
    }
    sec.verses.push(v);
  }
  if (!sections.length) {
    fill(el, h("p", { class: "hint" }, "まだ句はありません。発句（五七五）から始めます。 No verse yet: the first is a hokku (5-7-5)."));
    return;
  }
  fill(
    el,
    h("div", { class: "tategaki" },
      sections.map((sec) =>
        h("section", { class: "chain-section", "aria-label": sec.name },
          h("h4", {}, sec.name),
          h("ol", {},
            sec.verses.map((v) =>
              h("li", { class: "chain-verse", "data-seat": v.seat },
                h("span", { class: "seat" }, String(v.seat)),
                h("span", { class: "text", lang: "ja" }, v.text.replaceAll(" ", "\u3000")),
                h("span", { class: "author" }, v.author),
                warnings(v))))))),
  );
}

function warnings(v) {
  const broken = (v.violations || []).filter((x) => x.severity === "error");
  if (!broken.length && !(v.accepted || []).length) return null;
  const names = [...new Set(broken.map((x) => x.name))].join("・");
  return h("span", { class: "accepted", title: broken.map((x) => x.message).join("\n") },
    `宗匠許し: ${names || v.accepted.join("・")}`);
}
