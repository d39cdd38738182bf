// Entry point: tabs (keyboard: ←/→, Home, End), then each mode with the configured models.
import { api } from "./api.js";
import { setupArena } from "./arena.js";
import { status } from "./dom.js";
import { setupLeaderboard } from "./leaderboard.js";
import { setupRenga } from "./renga.js";
import { setupSession } from "./session.js";
import { setupSide } from "./side.js";

function setupTabs(onShow) {
  const tabs = [...document.querySelectorAll('[role="tab"]')];
  const select = (tab, focus = true) => {
    for (const t of tabs) {
      const selected = t === tab;
      t.setAttribute("aria-selected", String(selected));
      t.tabIndex = selected ? 0 : -1;
      document.getElementById(t.getAttribute("aria-controls")).hidden = !selected;
    }
    if (focus) tab.focus();
    history.replaceState(null, "", `#${tab.id.replace("tab-", "")}`);
    onShow(tab.id);
  };
  tabs.forEach((tab, k) => {
    tab.addEventListener("click", () => select(tab));
    tab.addEventListener("keydown", (e) => {
      const next = { ArrowRight: k + 1, ArrowLeft: k - 1, Home: 0, End: tabs.length - 1 }[e.key];
      if (next === undefined) return;
      e.preventDefault();
      select(tabs[(next + tabs.length) % tabs.length]);
    });
  });
  const initial = tabs.find((t) => `#${t.id.replace("tab-", "")}` === location.hash);
  if (initial) select(initial, false);
}

/** The configured model names; waits while the server is still loading its models (503). */
async function loadModels(statusLine) {
  for (let attempt = 0; ; attempt++) {
    try {
      const models = (await api("/api/models")).models.map((m) => m.name);
      status(statusLine, "");
      return models;
    } catch (err) {
      if (err.status !== 503 || attempt >= 120) {
        status(statusLine, err.message, { error: true });
        return [];
      }
      status(statusLine, "モデルを読み込み中… / the models are loading…");
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}

async function main() {
  const models = await loadModels(document.getElementById("side-status"));
  const refreshBoard = setupLeaderboard();
  setupSide(models);
  setupRenga(models);
  setupArena({ onVoted: refreshBoard });
  let refreshSessions = () => {};
  setupTabs((id) => {
    if (id === "tab-board") refreshBoard();
    if (id === "tab-session") refreshSessions();
  });
  refreshSessions = setupSession(models);
  document.body.dataset.ready = "true";
}

main();
