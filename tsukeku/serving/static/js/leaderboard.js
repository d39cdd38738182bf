// 順位表: Bradley–Terry ratings, intervals, counts and the win-rate matrix from the server.
import { api } from "./api.js";
import { fill, h, status } from "./dom.js";

export function setupLeaderboard() {
  const $ = (id) => document.getElementById(id);
  const summary = $("board-summary");
  const refresh = async () => {
    try {
      const board = await api("/api/arena/leaderboard");
      render(board);
      status(summary, `投票数 ${board.total_votes} / ${board.total_votes} votes`);
    } catch (err) {
      status(summary, err.message, { error: true });
    }
  };
  $("board-refresh").addEventListener("click", refresh);
  return refresh;
}

const fmt = (x, digits = 0) => (x === null || x === undefined ? "—" : x.toFixed(digits));
const pct = (x) => (x === null || x === undefined ? "—" : `${Math.round(x * 100)}%`);

function render(board) {
  const $ = (id) => document.getElementById(id);
  fill(
    $("board-table").querySelector("tbody"),
    board.rows.map((r) =>
      h("tr", { "data-model": r.model },
        h("td", {}, r.rank ?? "—"),
        h("th", { scope: "row" }, r.model),
        h("td", { class: "rating" }, fmt(r.rating)),
        h("td", {}, r.rating === null ? "—" : `${fmt(r.ci_low)} – ${fmt(r.ci_high)}`),
        h("td", { class: "votes" }, r.votes),
        h("td", {}, `${r.wins}-${r.losses}-${r.ties}`),
        h("td", {}, r.both_bad),
        h("td", {}, pct(r.win_rate)))),
  );
  const matrix = $("board-matrix");
  fill(matrix.querySelector("thead"),
    h("tr", {}, h("td", {}), board.models.map((m) => h("th", { scope: "col" }, m))));
  fill(matrix.querySelector("tbody"),
    board.models.map((m, i) =>
      h("tr", {}, h("th", { scope: "row" }, m),
        board.models.map((_, j) =>
          h("td", { title: `${board.battles[i][j]} 対戦 / battles` },
            i === j ? "" : pct(board.win_rate[i][j]))))));
  fill($("board-notes"), board.notes.join(" · "));
}
