// Building DOM nodes from data. Strings always become Text nodes (textContent), never markup:
// this module is the only place the page creates elements, and it never parses a string as HTML.

/**
 * h("li", {class: "ok", title: "…"}, "text", otherNode, [more, children])
 * Attribute values go through setAttribute (no event-handler attributes allowed);
 * `on` takes {event: handler}; children that are strings/numbers become text.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "on") {
      for (const [event, handler] of Object.entries(value)) el.addEventListener(event, handler);
    } else if (name.toLowerCase().startsWith("on")) {
      throw new Error(`use {on: {...}} instead of the ${name} attribute`);
    } else {
      el.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.appendChild(child);
    else el.appendChild(document.createTextNode(String(child)));
  }
}

/** Replaces every child of `el` with `children` (same rules as h). */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** Shows a status line; `error` styles it as a problem. */
export function status(el, message, { error = false } = {}) {
  el.textContent = message || "";
  el.classList.toggle("error", Boolean(error));
}

/** Calls fn at most once per `ms` of quiet (the mora counter while typing). */
export function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

/** Lets the visitor save `text` as a file without a server round trip. */
export function download(filename, text, type) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = h("a", { href: url, download: filename });
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
