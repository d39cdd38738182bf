// 座: a renga session shared by several screens. The lobby lists open sessions and starts new
// ones; the session view shows who is at the table, whose turn it is, what the next seat asks,
// warnings while typing, and the chain in vertical writing. Every change arrives over the
// session's event stream (SSE), so all screens update together.
//
// A session's links carry its token after "#token=": the join token lets a visitor post, the
// host's token also accepts rule-breaking verses, takes back and ends. The token is kept in
// localStorage per session and removed from the address bar.
import { api } from "./api.js";
import { debounce, fill, h, status } from "./dom.js";
import { renderChain } from "./session-chain.js";

const $ = (id) => document.getElementById(id);
const KEY = (id) => `tsukeku.session.${id}`;

function saved(id) {
  try {
    return JSON.parse(localStorage.getItem(KEY(id)) || "{}") || {};
  } catch {
    return {};
  }
}
const save = (id, data) => localStorage.setItem(KEY(id), JSON.stringify({ ...saved(id), ...data }));

export function setupSession(models) {
  const state = { id: null, session: null, source: null, blocked: null };

  // -- lobby ------------------------------------------------------------------------------
  fill($("session-models"), models.map((m) =>
    h("label", {}, h("input", { type: "checkbox", value: m, "data-model": m }), ` ${m}`)));

  async function refreshList() {
    try {
      const { sessions } = await api("/api/sessions?status=open");
      fill($("session-list"), sessions.length
        ? sessions.map((s) => h("li", {},
          h("button", { type: "button", on: { click: () => open(s.id) } },
            `${s.title}（${s.form}・${s.verses}句）`)))
        : h("li", { class: "hint" }, "開いている座はありません / none open"));
    } catch (err) {
      status($("session-lobby-status"), err.message, { error: true });
    }
  }

  $("session-create").addEventListener("submit", async (event) => {
    event.preventDefault();
    const people = $("session-people").value.split("\n").map((s) => s.trim()).filter(Boolean)
      .map((name) => ({ name, kind: "human" }));
    const chosen = [...$("session-models").querySelectorAll("input:checked")]
      .map((i) => ({ kind: "model", model: i.value }));
    if (!people.length && !chosen.length) {
      status($("session-lobby-status"), "人の名前かモデルを一つ以上 / add a person or a model", { error: true });
      return;
    }
    // Models sit between the people, so that a model answers after each person.
    const participants = [];
    people.forEach((p, k) => {
      participants.push(p);
      if (chosen[k]) participants.push(chosen[k]);
    });
    participants.push(...chosen.slice(people.length));
    try {
      const made = await api("/api/sessions", {
        body: { title: $("session-title").value, form: $("session-form").value,
          turn_order: $("session-order").value, participants },
      });
      const host = made.session.participants.find((p) => p.is_host);
      save(made.session.id, { token: made.host_token, join: made.join_token, host: true,
        me: host ? host.id : null });
      status($("session-lobby-status"), "");
      open(made.session.id);
    } catch (err) {
      status($("session-lobby-status"), err.message, { error: true });
    }
  });

  // -- one session ------------------------------------------------------------------------
  function open(id) {
    close();
    state.id = id;
    history.replaceState(null, "", `?session=${encodeURIComponent(id)}#session`);
    $("session-lobby").hidden = true;
    $("session-view").hidden = false;
    $("session-export-html").href = `/api/sessions/${id}/export.html`;
    $("session-export-jsonl").href = `/api/sessions/${id}/export.jsonl`;
    const source = new EventSource(`/api/sessions/${id}/events`);
    for (const kind of ["snapshot", "verse", "take_back", "status", "participant"]) {
      source.addEventListener(kind, (e) => render(JSON.parse(e.data).session));
    }
    source.onerror = () => {
      status($("session-status"), "接続を再試行中… / reconnecting…");
      // The browser retries a dropped stream itself, but not one answered with an error
      // (a server restarting answers 503 for a moment): then open it again here.
      if (source.readyState === EventSource.CLOSED) {
        setTimeout(() => state.source === source && open(id), 2000);
      }
    };
    source.onopen = () => status($("session-status"), "");
    state.source = source;
  }

  function close() {
    if (state.source) state.source.close();
    state.source = null;
    state.id = null;
    state.session = null;
  }

  $("session-back").addEventListener("click", () => {
    close();
    history.replaceState(null, "", "/#session");
    $("session-view").hidden = true;
    $("session-lobby").hidden = false;
    refreshList();
  });

  function render(session) {
    if (!session || session.id !== state.id) return;
    state.session = session;
    const mine = saved(session.id);
    $("session-title-view").textContent = session.title;
    const order = session.turn_order === "degachi" ? "出勝" : "順番";
    const st = { open: "進行中", finished: "満尾", ended: "終了" }[session.status];
    $("session-meta").textContent =
      `${session.form}・${order}・${session.verses.length}/${session.length}句・${st}`;
    const links = [];
    const base = `${location.origin}/?session=${session.id}#token=`;
    if (mine.join) links.push("参加用リンク / join link: ", h("code", {}, base + mine.join));
    else if (mine.token && !mine.host) links.push("参加中 / joined");
    fill($("session-links"), links);

    fill($("session-people-list"), session.participants.map((p) =>
      h("li", { class: session.turn && session.turn.id === p.id ? "current" : "",
        "data-kind": p.kind, "data-name": p.name, "aria-current": session.turn && session.turn.id === p.id ? "true" : null },
      p.name, p.kind === "model" ? "（モデル）" : "", p.is_host ? "（宗匠）" : "",
      mine.me === p.id ? "（あなた）" : "")));

    const turn = $("session-turn");
    if (session.status !== "open") {
      turn.textContent = session.status === "finished" ? "満尾しました。 The renga is complete." : "この座は終わりました。 The session has ended.";
    } else if (session.next) {
      const who = session.turn
        ? (session.turn.kind === "model"
          ? `${session.turn.name} が付けています… / the model is composing`
          : `${session.turn.name} さんの番です / ${session.turn.name}'s turn`)
        : "出勝: どなたでも / anyone may post";
      turn.textContent = `第${session.next.seat}句（${session.next.section}）「${session.next.description}」 — ${who}`;
      if (session.model_error) turn.textContent += `（モデル: ${session.model_error}）`;
    }
    $("session-seat-label").textContent = session.next
      ? `第${session.next.seat}句: ${session.next.description}` : "";

    const people = session.participants.filter((p) => p.kind === "human");
    const canPost = Boolean(mine.token) && session.status === "open" && people.length > 0;
    $("session-verse").hidden = !canPost;
    $("session-join").hidden = !(mine.token && !mine.host && !people.some((p) => p.id === mine.me)) ||
      session.status !== "open";
    const me = $("session-me");
    const chosen = mine.me ?? (session.turn && session.turn.kind === "human" ? session.turn.id : null);
    fill(me, people.map((p) => h("option", { value: p.id, selected: p.id === chosen }, p.name)));
    if (session.turn && session.turn.kind === "human" && mine.host) me.value = String(session.turn.id);

    $("session-host").hidden = !mine.host || session.status !== "open";
    fill($("session-compose-buttons"), session.turn_order === "degachi"
      ? session.participants.filter((p) => p.kind === "model").map((p) =>
        h("button", { type: "button", on: { click: () => modelTurn(p) } }, `${p.name} に付けさせる`))
      : []);
    renderChain($("session-chain"), session);
    recheck();
  }

  // -- typing and posting -----------------------------------------------------------------
  const input = $("session-input");
  const checkOut = $("session-check");
  let controller = null;

  async function recheck() {
    const text = input.value.trim();
    if (controller) controller.abort();
    if (!text || !state.id || !state.session || !state.session.next) {
      fill(checkOut);
      return;
    }
    controller = new AbortController();
    try {
      const c = await api(`/api/sessions/${state.id}/check`, { body: { text }, signal: controller.signal });
      showCheck(c);
    } catch (err) {
      if (err.name !== "AbortError") fill(checkOut, h("p", { class: "error" }, err.message));
    }
  }

  function showCheck(c) {
    if (c.message) {
      fill(checkOut, h("p", { class: "warn" }, c.message));
      return;
    }
    const items = c.violations || [];
    const morae = (c.ku_morae || []).join("・");
    fill(checkOut,
      h("p", { class: items.length ? "warn" : "good" },
        items.length ? `気をつけて: ${[...new Set(items.map((v) => v.name))].join("、")}` : "決まりに合っています ✓",
        morae ? `（音数 ${morae}）` : ""),
      items.length ? h("ul", { class: "violations" }, items.map((v) =>
        h("li", { class: v.severity }, `${v.name}: ${v.hint}`,
          h("details", {}, h("summary", {}, "詳しく / details"),
            h("code", {}, `${v.rule} (${v.severity})`), " ", v.message)))) : null);
  }

  input.addEventListener("input", () => {
    $("session-accept").hidden = true;
    state.blocked = null;
    status($("session-status"), ""); // a refusal shown for the previous text is over
  });
  input.addEventListener("input", debounce(recheck, 300));

  async function post(accept = []) {
    const mine = saved(state.id);
    const text = input.value.trim();
    if (!text) {
      status($("session-status"), "句を入力してください / type a verse", { error: true });
      return;
    }
    const body = { text, participant_id: Number($("session-me").value), token: mine.token,
      seat: state.session.next ? state.session.next.seat : undefined };
    if (accept.length) body.accept = accept;
    $("session-post").disabled = true;
    try {
      await api(`/api/sessions/${state.id}/verses`, { body });
      save(state.id, { me: body.participant_id });
      input.value = "";
      fill(checkOut);
      $("session-accept").hidden = true;
      status($("session-status"), "付けました / posted");
    } catch (err) {
      const violations = err.data && err.data.error && err.data.error.violations;
      if (violations) {
        showCheck({ violations, ku_morae: [] });
        state.blocked = [...new Set(violations.filter((v) => v.severity === "error").map((v) => v.rule))];
        $("session-accept").hidden = !mine.host;
        status($("session-status"), mine.host
          ? "決まりに外れています。直すか、宗匠として認めてください。 Fix it, or accept it as host."
          : "決まりに外れています。直すか、宗匠に認めてもらってください。 Fix it, or ask the host to accept it.",
        { error: true });
      } else {
        status($("session-status"), err.message, { error: true });
      }
    } finally {
      $("session-post").disabled = false;
    }
  }

  $("session-verse").addEventListener("submit", (e) => {
    e.preventDefault();
    post();
  });
  $("session-accept").addEventListener("click", () => state.blocked && post(state.blocked));

  $("session-join").addEventListener("submit", async (e) => {
    e.preventDefault();
    const mine = saved(state.id);
    try {
      const p = await api(`/api/sessions/${state.id}/participants`, {
        body: { name: $("session-join-name").value, token: mine.token } });
      save(state.id, { me: p.id });
      status($("session-status"), "");
    } catch (err) {
      status($("session-status"), err.message, { error: true });
    }
  });

  async function hostAction(path, confirmText) {
    if (confirmText && !window.confirm(confirmText)) return;
    try {
      await api(`/api/sessions/${state.id}/${path}`, { body: { token: saved(state.id).token } });
    } catch (err) {
      status($("session-status"), err.message, { error: true });
    }
  }
  $("session-take-back").addEventListener("click", () => hostAction("take-back"));
  $("session-end").addEventListener("click", () => hostAction("end", "この座を閉じますか？ / End this session?"));

  async function modelTurn(p) {
    status($("session-status"), `${p.name} が付けています… / composing…`);
    try {
      await api(`/api/sessions/${state.id}/compose`, {
        body: { participant_id: p.id, token: saved(state.id).token } });
      status($("session-status"), "");
    } catch (err) {
      status($("session-status"), err.message, { error: true });
    }
  }

  async function whoami(id, token) {
    try {
      const { role, participant_id: me } = await api(`/api/sessions/${id}/role`, { body: { token } });
      save(id, { token, host: role === "host", ...(role === "host" && me ? { me } : {}) });
    } catch (err) {
      status($("session-status"), err.message, { error: true });
    }
  }

  // -- arriving by a link -----------------------------------------------------------------
  const params = new URLSearchParams(location.search);
  const id = params.get("session");
  const token = new URLSearchParams(location.hash.slice(1)).get("token");
  if (id && /^[0-9a-f]{8,64}$/.test(id)) {
    $("tab-session").click();
    (token ? whoami(id, token) : Promise.resolve()).then(() => open(id));
  } else {
    refreshList();
  }
  return () => {
    if (!state.id) refreshList();
  };
}
