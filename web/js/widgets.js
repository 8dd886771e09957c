// Pieces both the host and the participant screens draw: answer buttons, leaderboard, podium,
// the answer distribution chart. All data goes in as text.

import { h, fill } from "./dom.js";

export const SHAPES = ["▲", "◆", "●", "■", "★", "⬟"];
export const SHAPE_NAMES = ["triangle", "diamond", "circle", "square", "star", "pentagon"];

/** One answer button (colour + shape + text). */
export function answerButton(index, text, attrs = {}) {
  return h(
    "button",
    {
      type: "button",
      class: "answer",
      dataset: { i: String(index) },
      "aria-label": `${SHAPE_NAMES[index]}: ${text}`,
      ...attrs,
    },
    h("span", { class: "shape", "aria-hidden": "true", text: SHAPES[index] }),
    h("span", { class: "opt-text", text }),
  );
}

/** Fill an ordered list with leaderboard rows; `meId` marks the viewer's row. */
export function renderLeaderboard(list, entries, meId) {
  fill(
    list,
    (entries || []).map((e) =>
      h(
        "li",
        { class: e.participant_id === meId ? "me" : undefined },
        h("span", { class: "rank", text: `${e.rank}.` }),
        h("span", { class: "nick", text: e.nickname }),
        h("span", { class: "score", text: e.score }),
      ),
    ),
  );
  if (!entries || entries.length === 0) {
    list.append(h("li", { class: "muted" }, h("span"), h("span", { text: "No scores yet." })));
  }
}

/** The top three on steps. */
export function renderPodium(root, entries) {
  const top = (entries || []).slice(0, 3);
  fill(
    root,
    top.map((e, i) =>
      h(
        "div",
        { class: `step p${i + 1}`, dataset: { rank: String(e.rank) } },
        h("span", { class: "place", text: ["1st", "2nd", "3rd"][i] }),
        h("span", { class: "nick", text: e.nickname }),
        h("span", { class: "score", text: `${e.score} pts` }),
      ),
    ),
  );
}

/** Bars of how many chose each option; the correct ones are marked. */
export function renderDistribution(root, options, distribution) {
  const counts = distribution.counts || [];
  const most = Math.max(1, ...counts);
  const correct = new Set(distribution.correct_options || []);
  fill(
    root,
    options.map((text, i) =>
      h(
        "div",
        { class: "bar-row", dataset: { correct: String(correct.has(i)) } },
        h("span", { class: "label" }, `${SHAPES[i]} `, String(text)),
        h("span", { "aria-hidden": "true", class: "shape", text: SHAPES[i] }),
        h(
          "span",
          {
            class: "bar",
            role: "img",
            "aria-label": `${counts[i] || 0} chose ${SHAPE_NAMES[i]}${correct.has(i) ? " (correct)" : ""}`,
          },
          barFill(((100 * (counts[i] || 0)) / most).toFixed(1), i),
        ),
        h("span", { class: "count num", text: counts[i] || 0 }),
      ),
    ),
  );
}

// Styles through the CSSOM, not a style attribute, so a strict Content-Security-Policy holds.
function barFill(percent, index) {
  const span = h("span");
  span.style.width = `${percent}%`;
  span.style.background = `var(--a${index})`;
  return span;
}
