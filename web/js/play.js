// The participant's page: join with a code and a nickname, then play. The participant token is
// kept in sessionStorage (per tab), so a refresh resumes the same player with their score.

import { ApiError, request } from "./api.js";
import { byId, clearBox, fill, h, setText, showError, showScreen } from "./dom.js";
import { Countdown, RunSocket } from "./socket.js";
import { answerButton, renderLeaderboard, renderPodium } from "./widgets.js";

const STORE_KEY = "speedrun.player";
const CODE_RE = /^[0-9]{6}$/;
const main = byId("main");
const conn = byId("conn");

const state = {
  player: null, // {code, participant_id, participant_token, nickname, websocket_path}
  socket: null,
  countdown: null,
  question: null, // the QuestionView shown now
  answered: false, // the shown question has been answered (or timed out)
  selected: new Set(),
  score: 0,
  rank: null,
  participantCount: 0,
  mostOptions: 4, // answer slots reserved so the grid keeps its height between questions
  leaderboard: [],
  finished: false,
};

// ------------------------------------------------------------------------------- storage

function loadPlayer() {
  try {
    const saved = JSON.parse(sessionStorage.getItem(STORE_KEY) || "null");
    return saved && saved.participant_token ? saved : null;
  } catch {
    return null;
  }
}

function savePlayer(player) {
  sessionStorage.setItem(STORE_KEY, JSON.stringify(player));
}

function forgetPlayer() {
  sessionStorage.removeItem(STORE_KEY);
}

// ------------------------------------------------------------------------------- joining

async function describeRun(code) {
  const line = byId("join-run");
  if (!CODE_RE.test(code)) {
    setText(line, "");
    return;
  }
  try {
    const run = await request("GET", `/signon/speedruns/${code}`);
    setText(line, `Joining “${run.title}” · ${run.participant_count} players so far`);
  } catch (error) {
    setText(line, error instanceof ApiError && error.status === 404 ? "No game has this code." : "");
  }
}

function showJoin(code) {
  showScreen(main, "join");
  const codeInput = byId("code");
  const nickInput = byId("nickname");
  codeInput.value = code || "";
  (CODE_RE.test(code || "") ? nickInput : codeInput).focus();
  describeRun(code || "");
  codeInput.addEventListener("input", () => {
    const digits = codeInput.value.replace(/\D/g, "").slice(0, 6);
    if (digits !== codeInput.value) codeInput.value = digits;
    if (digits.length === 6) describeRun(digits);
  });
  byId("join-form").addEventListener("submit", onJoin);
}

async function onJoin(event) {
  event.preventDefault();
  const box = byId("join-error");
  const code = byId("code").value.trim();
  const nickname = byId("nickname").value.trim();
  clearBox(box);
  const problems = [];
  if (!CODE_RE.test(code)) problems.push({ location: "Join code", message: "six digits" });
  if (!nickname) problems.push({ location: "Nickname", message: "choose a nickname" });
  if (problems.length) {
    showError(box, { message: "Please fix the form.", details: problems });
    return;
  }
  const button = byId("join-button");
  button.disabled = true;
  try {
    const joined = await request("POST", `/signon/speedruns/${code}/participants`, {
      json: { nickname },
    });
    const player = { code, nickname, ...joined };
    savePlayer(player);
    history.replaceState(null, "", `${location.pathname}?code=${code}`);
    startGame(player);
  } catch (error) {
    showError(box, { message: joinMessage(error), details: error.details || [] });
  } finally {
    button.disabled = false;
  }
}

function joinMessage(error) {
  switch (error.status) {
    case 404:
      return "No game has this code. Check it and try again.";
    case 409:
      return error.message || "That nickname is taken in this game; choose another.";
    case 410:
      return "This game is over.";
    case 423:
      return "The host has closed joining for this game.";
    case 429:
      return "Too many attempts; wait a moment and try again.";
    default:
      return error.message;
  }
}

// ------------------------------------------------------------------------------- the game

function startGame(player) {
  state.player = player;
  setText(byId("me-nick"), player.nickname);
  setText(byId("lobby-nick"), player.nickname);
  state.socket = new RunSocket({
    token: player.participant_token,
    path: player.websocket_path,
    onFrame,
    onState,
  });
  state.countdown = new Countdown(byId("countdown"), state.socket);
  showScreen(main, "lobby");
  state.socket.start();
}

function onState(connState, info) {
  conn.dataset.state = connState;
  const labels = {
    connecting: "Connecting…",
    reconnecting: "Reconnecting…",
    open: "",
    closed: "",
  };
  setText(conn, labels[connState] ?? "");
  if (connState === "closed" && info) onFinalClose(info.reason);
}

function onFinalClose(reason) {
  if (reason === "finished") return;
  state.countdown?.stop();
  const retry = byId("gone-retry");
  retry.hidden = reason !== "replaced";
  const texts = {
    kicked: "The host removed you from this game.",
    invalid_token: "This game is no longer available.",
    protocol_error: "This page is out of date; reload it.",
    replaced: "This game is open in another tab or window.",
  };
  setText(byId("gone-text"), texts[reason] || "The connection was closed.");
  if (reason === "kicked" || reason === "invalid_token") forgetPlayer();
  showScreen(main, "gone");
}

function onFrame(frame) {
  switch (frame.type) {
    case "welcome":
      state.player.participant_id = frame.participant_id || state.player.participant_id;
      if (frame.nickname) {
        state.player.nickname = frame.nickname;
        setText(byId("me-nick"), frame.nickname);
        setText(byId("lobby-nick"), frame.nickname);
      }
      applySnapshot(frame.snapshot);
      break;
    case "lobby":
    case "participant_kicked":
      setCount(frame.participant_count);
      break;
    case "run_started":
      if (main.dataset.current === "lobby") {
        showPlay();
        setFeedback("info", "Get ready…");
      }
      break;
    case "question":
      showQuestion(frame.question);
      break;
    case "answer_accepted":
      if (state.question && frame.question_index === state.question.question_index) {
        markChosen(frame.selected);
        setFeedback("info", "Answer locked in. Wait for the reveal…");
      }
      break;
    case "answer_result":
      showResult(frame);
      break;
    case "question_closed":
      if (state.question && frame.question_index === state.question.question_index) {
        closeAnswering();
        if (!state.answered) setFeedback("timeout", "Time's up!");
      }
      break;
    case "question_revealed":
      if (state.question && frame.distribution.question_index === state.question.question_index) {
        markCorrect(frame.distribution.correct_options);
      }
      break;
    case "leaderboard":
      state.leaderboard = frame.top;
      setCount(frame.participant_count);
      if (frame.own) setScore(frame.own.score, frame.own.rank);
      break;
    case "participant_finished":
      if (frame.participant_id === state.player.participant_id) showDone(frame.score);
      break;
    case "run_finished":
      showFinal(frame.leaderboard);
      break;
    case "error":
      onErrorFrame(frame);
      break;
    default:
      break; // frames for the host only, or newer than this page
  }
}

function applySnapshot(snap) {
  setText(byId("run-title"), snap.title);
  document.title = `${snap.title} · speedrun`;
  setCount(snap.participant_count);
  state.leaderboard = snap.leaderboard || [];
  const own = snap.own || {};
  setScore(own.score ?? 0, own.rank ?? null);
  if (snap.status === "lobby") {
    showScreen(main, "lobby");
    return;
  }
  if (snap.status === "finished") {
    showFinal(snap.leaderboard);
    return;
  }
  if (own.finished) {
    showDone(own.score ?? 0);
    return;
  }
  if (snap.current_question) {
    const q = snap.current_question;
    showQuestion(q);
    if (own.answered_current) {
      state.answered = true;
      closeAnswering();
      setFeedback("info", "Answer locked in. Wait for the reveal…");
    }
    return;
  }
  showPlay();
  state.countdown.stop("–");
  closeAnswering();
  setFeedback("info", snap.phase === "revealed" ? "Next question soon…" : "Waiting for the host…");
}

function setCount(count) {
  if (typeof count !== "number") return;
  state.participantCount = count;
  setText(byId("lobby-count"), count);
}

function setScore(score, rank) {
  state.score = score;
  state.rank = rank;
  setText(byId("me-score"), score);
  setText(byId("me-rank"), rank ? `${rank}/${state.participantCount || "?"}` : "–");
}

function showPlay() {
  if (main.dataset.current !== "play") showScreen(main, "play");
}

function setFeedback(kind, ...parts) {
  const box = byId("feedback");
  box.dataset.kind = kind;
  fill(box, parts);
}

// ------------------------------------------------------------------------------- questions

function showQuestion(q) {
  const shown = main.dataset.current === "play" && state.question;
  const same = shown && state.question.question_index === q.question_index;
  showPlay();
  state.countdown.start(q.deadline_ms, q.time_limit_s);
  // The same question again (a snapshot or a replayed frame after a reconnect): keep what is on
  // screen, the selection and whether it was answered.
  if (same) return;
  state.question = q;
  state.answered = false;
  // A waiting message belongs to the last question; a result stays until the next one.
  if (byId("feedback").dataset.kind === "info") setFeedback("none");
  state.selected = new Set();
  state.mostOptions = Math.max(state.mostOptions, q.options.length);
  setText(byId("q-number"), `Question ${q.question_index + 1} of ${q.question_count}`);
  setText(byId("q-category"), q.category || "");
  setText(byId("q-text"), q.text);
  const buttons = q.options.map((text, i) =>
    answerButton(i, text, {
      "aria-pressed": q.multi ? "false" : undefined,
      onclick: () => onAnswerClick(i),
    }),
  );
  // Invisible slots keep the grid as tall as the largest question so far (no layout jump).
  const spacers = [];
  for (let i = q.options.length; i < state.mostOptions; i += 1) {
    spacers.push(h("div", { class: "answer", "aria-hidden": "true", style: undefined }));
  }
  spacers.forEach((s) => (s.style.visibility = "hidden"));
  fill(byId("answers"), buttons, spacers);
  const submit = byId("submit");
  submit.hidden = !q.multi;
  submit.disabled = true;
  setText(byId("answer-hint"), q.multi ? "Select all that apply, then submit." : "");
  if (q.remaining_ms <= 0 || state.countdown.remainingMs() <= 0) closeAnswering();
}

function answerButtons() {
  return [...byId("answers").querySelectorAll("button.answer")];
}

function onAnswerClick(index) {
  if (state.answered || !state.question) return;
  if (!state.question.multi) {
    submitAnswer([index]);
    return;
  }
  const button = answerButtons()[index];
  if (state.selected.has(index)) state.selected.delete(index);
  else state.selected.add(index);
  button.setAttribute("aria-pressed", String(state.selected.has(index)));
  byId("submit").disabled = state.selected.size === 0;
}

function submitAnswer(selected) {
  const q = state.question;
  if (!q || state.answered) return;
  if (state.countdown.remainingMs() <= 0) {
    closeAnswering();
    setFeedback("timeout", "Time's up!");
    return;
  }
  const sent = state.socket.send({
    type: "answer",
    question_index: q.question_index,
    selected: [...selected].sort((a, b) => a - b),
  });
  if (!sent) {
    setFeedback("info", "Not connected: your answer was not sent. Try again in a moment.");
    return;
  }
  state.answered = true;
  markChosen(selected);
  closeAnswering();
  setFeedback("info", "Answer sent…");
}

function markChosen(selected) {
  const chosen = new Set(selected);
  answerButtons().forEach((b, i) => b.classList.toggle("chosen", chosen.has(i)));
}

function markCorrect(correct) {
  const right = new Set(correct);
  answerButtons().forEach((b, i) => {
    b.classList.toggle("correct", right.has(i));
    if (right.has(i)) b.setAttribute("aria-label", `${b.getAttribute("aria-label")} (correct)`);
  });
}

function closeAnswering() {
  answerButtons().forEach((b) => (b.disabled = true));
  const submit = byId("submit");
  submit.disabled = true;
}

function showResult(frame) {
  const current = state.question && frame.question_index === state.question.question_index;
  if (current) {
    state.answered = true;
    closeAnswering();
    markChosen(frame.selected);
    markCorrect(frame.correct_options);
    state.countdown.stop();
  }
  setScore(frame.score, state.rank);
  const label = `Question ${frame.question_index + 1}: `;
  if (frame.timed_out) {
    setFeedback("timeout", label, "⏱ Time's up, no points");
  } else if (frame.correct) {
    const bonus = frame.streak_bonus ? ` (streak +${frame.streak_bonus})` : "";
    setFeedback("correct", label, `✔ Correct! +${frame.points}${bonus}`);
  } else {
    setFeedback("wrong", label, "✘ Not quite, no points");
  }
}

function showDone(score) {
  state.countdown?.stop();
  setText(byId("done-score"), score);
  showScreen(main, "done");
}

function showFinal(leaderboard) {
  state.finished = true;
  state.countdown?.stop();
  const board = leaderboard && leaderboard.length ? leaderboard : state.leaderboard;
  const me = board.find((e) => e.participant_id === state.player.participant_id);
  const rank = me ? me.rank : state.rank;
  const score = me ? me.score : state.score;
  setText(
    byId("final-me"),
    rank ? `You placed ${ordinal(rank)} with ${score} points` : `You scored ${score} points`,
  );
  renderPodium(byId("final-podium"), board);
  renderLeaderboard(byId("final-board"), board, state.player.participant_id);
  showScreen(main, "final");
}

function ordinal(n) {
  const tens = n % 100;
  if (tens >= 11 && tens <= 13) return `${n}th`;
  return `${n}${{ 1: "st", 2: "nd", 3: "rd" }[n % 10] || "th"}`;
}

function onErrorFrame(frame) {
  switch (frame.code) {
    case "deadline_passed":
      setFeedback("timeout", "Too late: time was up.");
      break;
    case "already_answered":
      break; // the first answer stands; the screen already says so
    case "question_not_open":
      closeAnswering();
      break;
    case "rate_limited":
      setFeedback("info", "Slow down a little.");
      break;
    default:
      if (frame.ref === "answer") {
        state.answered = false;
        answerButtons().forEach((b) => (b.disabled = false));
        setFeedback("info", frame.message);
      }
  }
}

// Number keys 1-6 pick an answer; Enter submits a multi-select answer.
document.addEventListener("keydown", (event) => {
  if (main.dataset.current !== "play" || event.altKey || event.ctrlKey || event.metaKey) return;
  if (event.target instanceof HTMLInputElement) return;
  const n = Number.parseInt(event.key, 10);
  if (n >= 1 && n <= 6) {
    const button = answerButtons()[n - 1];
    if (button && !button.disabled) {
      event.preventDefault();
      button.click();
    }
  }
});

byId("submit").addEventListener("click", () => submitAnswer(state.selected));
byId("gone-retry").addEventListener("click", () => {
  if (!state.player) return;
  state.socket.stop();
  startGame(state.player);
});

// ------------------------------------------------------------------------------- start

const code = new URLSearchParams(location.search).get("code") || "";
const saved = loadPlayer();
if (saved && (!code || saved.code === code)) startGame(saved);
else showJoin(code.replace(/\D/g, "").slice(0, 6));
