// アリーナ: the server picks two models at random and keeps which is which; the page only sees
// "A" and "B" until the vote comes back with the names.
import { api } from "./api.js";
import { fill, h, status } from "./dom.js";
import { attachCounter, verseBlock } from "./verse.js";

export function setupArena({ onVoted }) {
  const $ = (id) => document.getElementById(id);
  const input = $("arena-input");
  const statusLine = $("arena-status");
  const battleBox = $("arena-battle");
  const voteBox = $("arena-vote");
  const reveal = $("arena-reveal");
  const start = $("arena-start");
  const voteButtons = [...voteBox.querySelectorAll("button")];
  let battle = null;
  attachCounter(input, $("arena-counter"));

  $("arena-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const previous = input.value.trim();
    if (!previous) {
      status(statusLine, "前句を入力してください / type a 前句 first", { error: true });
      return;
    }
    battle = null;
    start.disabled = true;
    voteBox.hidden = true;
    fill(reveal);
    fill(battleBox);
    status(statusLine, "二つのモデルが付けています… / two models are composing…");
    try {
      battle = await api("/api/arena/battles", { body: { previous } });
      fill(battleBox, battle.answers.map((a) => answerCard(a)));
      voteButtons.forEach((b) => (b.disabled = false));
      voteBox.hidden = false;
      status(statusLine, "良い方に投票してください / which answer is better?");
      voteButtons[0].focus();
    } catch (err) {
      status(statusLine, err.message, { error: true });
    } finally {
      start.disabled = false;
    }
  });

  voteBox.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-winner]");
    if (!button || !battle) return;
    voteButtons.forEach((b) => (b.disabled = true));
    try {
      const result = await api(`/api/arena/battles/${encodeURIComponent(battle.battle_id)}/vote`, {
        body: { winner: button.dataset.winner },
      });
      showReveal(result);
      battle = null;
      status(statusLine, "投票ありがとうございました / thanks for voting — 次の前句をどうぞ");
      if (onVoted) onVoted();
    } catch (err) {
      status(statusLine, err.message, { error: true });
      // A refused vote (rate limit) may be retried later; a finished battle may not.
      if (err.status === 429) voteButtons.forEach((b) => (b.disabled = false));
    }
  });

  function showReveal(result) {
    const cards = battleBox.querySelectorAll(".card");
    result.answers.forEach((a, k) => {
      const title = cards[k].querySelector("h3");
      fill(title, h("span", {}, `${a.label}: `, h("strong", { class: "model-name" }, a.model)),
        h("span", { class: "latency" }, `${Math.round(a.latency_ms)} ms`));
      cards[k].classList.toggle("winner", result.winner === a.label.toLowerCase());
    });
    const verdict = {
      a: "A の勝ち / A wins", b: "B の勝ち / B wins", tie: "引き分け / tie", both_bad: "どちらも悪い / both bad",
    }[result.winner];
    fill(reveal, verdict, " — A = ", h("strong", {}, result.answers[0].model),
      ", B = ", h("strong", {}, result.answers[1].model));
  }
}

function answerCard(answer) {
  return h("article", { class: "card", "data-label": answer.label },
    h("h3", {}, answer.label,
      h("span", { class: "latency", title: "投票後に表示 / shown after the vote" }, "? ms")),
    verseBlock(answer.candidate));
}
