// The host's page: upload or pick a question set, configure and create a run, then the lobby,
// the live question (host-paced) or the dashboard (self-paced), and the results. The host token
// is kept in sessionStorage (per tab), so a refresh returns to the same run.

import { ApiError, download, request } from "./api.js";
import { byId, clearBox, fill, h, setText, showError, showScreen } from "./dom.js";
import { Countdown, RunSocket } from "./socket.js";
import { renderDistribution, renderLeaderboard, renderPodium, SHAPES } from "./widgets.js";

const STORE_KEY = "speedrun.host";
// Players listed at once in the lobby and on the dashboard; the rest are found by name. With
// thousands of players a full list is unreadable and rebuilding it is what slows the page.
const SHOWN = 200;
const main = byId("main");
const conn = byId("conn");

const state = {
  host: null, // {speedrun_id, join_code, host_token, join_url, websocket_path}
  socket: null,
  countdown: null,
  set: null, // the full question set being configured
  mode: null,
  status: null,
  phase: null,
  locked: false,
  questionCount: 0,
  question: null, // host-paced: the QuestionView shown
  participants: new Map(), // participant id -> ParticipantView-like record
  participantCount: 0,
  leaderboard: [],
  filter: "", // find players by nickname (lower case)
  renderQueued: false,
};

// ------------------------------------------------------------------------------- storage

function loadHost() {
  try {
    const saved = JSON.parse(sessionStorage.getItem(STORE_KEY) || "null");
    return saved && saved.host_token ? saved : null;
  } catch {
    return null;
  }
}

function forgetHost() {
  sessionStorage.removeItem(STORE_KEY);
}

// ------------------------------------------------------------------------------- setup

async function loadSets(selectId) {
  const select = byId("set-select");
  const box = byId("sets-error");
  clearBox(box);
  let sets;
  try {
    sets = await request("GET", "/question-sets");
  } catch (error) {
    showError(box, error);
    fill(select, h("option", { value: "", text: "Could not load the question sets" }));
    return;
  }
  const list = Array.isArray(sets) ? sets : sets.items || sets.question_sets || [];
  list.sort((a, b) => String(b.created || "").localeCompare(String(a.created || "")));
  fill(
    select,
    h("option", { value: "", text: list.length ? "Choose a question set…" : "No sets yet: upload one" }),
    list.map((s) =>
      h("option", { value: s.id, text: `${s.title} (${s.question_count} questions)` }),
    ),
  );
  if (selectId) {
    select.value = selectId;
    await chooseSet(selectId);
  }
}

async function onUpload(event) {
  event.preventDefault();
  const errorBox = byId("upload-error");
  const okBox = byId("upload-ok");
  clearBox(errorBox);
  clearBox(okBox);
  const file = byId("upload-file").files[0];
  if (!file) {
    showError(errorBox, { message: "Choose a file to upload." });
    return;
  }
  const form = new FormData();
  form.append("file", file, file.name);
  const title = byId("upload-title").value.trim();
  if (title) form.append("title", title);
  const button = byId("upload-button");
  button.disabled = true;
  try {
    const stored = await request("POST", "/question-set-upload", { form });
    const warnings = stored.warnings || [];
    fill(
      okBox,
      h("strong", {
        text: `Uploaded “${stored.title}”: ${stored.question_count} questions (${stored.format}).`,
      }),
      warnings.length
        ? h("ul", {}, warnings.map((w) => h("li", { text: typeof w === "string" ? w : JSON.stringify(w) })))
        : null,
    );
    okBox.hidden = false;
    await loadSets(stored.id);
  } catch (error) {
    showError(errorBox, error);
  } finally {
    button.disabled = false;
  }
}

async function chooseSet(id) {
  const form = byId("config-form");
  const box = byId("sets-error");
  clearBox(box);
  if (!id) {
    form.hidden = true;
    return;
  }
  try {
    state.set = await request("GET", `/question-sets/${encodeURIComponent(id)}`);
    state.set.id = id;
  } catch (error) {
    showError(box, error);
    form.hidden = true;
    return;
  }
  renderConfig(state.set);
  form.hidden = false;
}

function renderConfig(set) {
  const categories = [];
  for (const q of set.questions) {
    if (q.category && !categories.includes(q.category)) categories.push(q.category);
  }
  const catBox = byId("categories");
  fill(
    catBox,
    h("legend", { text: "Categories" }),
    categories.length
      ? categories.map((c) =>
          h(
            "label",
            {},
            h("input", { type: "checkbox", checked: true, dataset: { category: c }, onchange: onCategory }),
            c,
          ),
        )
      : h("span", { class: "muted", text: "This set has no categories." }),
  );
  fill(
    byId("question-list"),
    set.questions.map((q, i) =>
      h(
        "label",
        {},
        h("input", {
          type: "checkbox",
          checked: true,
          dataset: { index: String(i), category: q.category || "" },
          onchange: updateChosen,
        }),
        h(
          "span",
          {},
          h("span", { text: `${i + 1}. ${q.text}` }),
          q.category ? h("span", { class: "cat", text: ` · ${q.category}` }) : null,
          q.correct && q.correct.length > 1 ? h("span", { class: "cat", text: " · multi" }) : null,
        ),
      ),
    ),
  );
  updateChosen();
}

function questionBoxes() {
  return [...byId("question-list").querySelectorAll("input[type=checkbox]")];
}

function onCategory(event) {
  const { category } = event.target.dataset;
  for (const box of questionBoxes()) {
    if (box.dataset.category === category) box.checked = event.target.checked;
  }
  updateChosen();
}

function updateChosen() {
  setText(byId("q-chosen"), questionBoxes().filter((b) => b.checked).length);
}

async function onCreate(event) {
  event.preventDefault();
  const box = byId("create-error");
  clearBox(box);
  const boxes = questionBoxes();
  const chosen = boxes.filter((b) => b.checked).map((b) => Number(b.dataset.index));
  const problems = [];
  if (!state.set) problems.push({ location: "Question set", message: "pick one" });
  if (chosen.length === 0) problems.push({ location: "Questions", message: "choose at least one" });
  const timeText = byId("time-limit").value.trim();
  const time = Number(timeText);
  if (timeText && !(Number.isInteger(time) && time >= 5 && time <= 240)) {
    problems.push({ location: "Seconds per question", message: "a whole number from 5 to 240" });
  }
  const maxText = byId("max-participants").value.trim();
  const max = Number(maxText);
  if (maxText && !(Number.isInteger(max) && max >= 1)) {
    problems.push({ location: "Most players", message: "a whole number, 1 or more" });
  }
  if (problems.length) {
    showError(box, { message: "Please fix the settings.", details: problems });
    return;
  }
  const body = {
    question_set_id: state.set.id,
    mode: new FormData(byId("config-form")).get("mode"),
    shuffle_questions: byId("shuffle-q").checked,
    shuffle_options: byId("shuffle-o").checked,
  };
  // The chosen questions say it all (categories only narrow the same choice).
  if (chosen.length < boxes.length) body.question_indexes = chosen;
  if (timeText) body.time_limit_s = time;
  if (maxText) body.max_participants = max;
  const button = byId("create-button");
  button.disabled = true;
  try {
    const created = await request("POST", "/signon/speedruns", { json: body });
    sessionStorage.setItem(STORE_KEY, JSON.stringify(created));
    startRun(created);
  } catch (error) {
    showError(box, error);
  } finally {
    button.disabled = false;
  }
}

// ------------------------------------------------------------------------------- the run

function startRun(host) {
  state.host = host;
  const code = host.join_code;
  setText(byId("join-code"), code);
  const link = byId("join-url");
  const url = safeUrl(host.join_url) || new URL(`join.html?code=${code}`, location.href).href;
  link.href = url;
  setText(link, url);
  setText(byId("lobby-host"), new URL(url).host);
  byId("qr").src = `/signon/speedruns/${encodeURIComponent(code)}/qr.svg`;
  state.socket = new RunSocket({
    token: host.host_token,
    path: host.websocket_path,
    onFrame,
    onState,
  });
  state.countdown = new Countdown(byId("h-countdown"), state.socket);
  showScreen(main, "lobby");
  state.socket.start();
}

/** Only http(s) links from the API become hrefs (never javascript: or the like). */
function safeUrl(text) {
  try {
    const url = new URL(text, location.href);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}

function onState(connState, info) {
  conn.dataset.state = connState;
  const labels = { connecting: "Connecting…", reconnecting: "Reconnecting…" };
  setText(conn, labels[connState] || "");
  if (connState === "closed" && info && info.reason !== "finished") {
    const texts = {
      invalid_token: "This game has expired or no longer exists.",
      replaced: "This game is open in another tab or window.",
      protocol_error: "This page is out of date; reload it.",
    };
    setText(byId("gone-text"), texts[info.reason] || "The connection was closed.");
    byId("gone-retry").hidden = info.reason !== "replaced";
    if (info.reason === "invalid_token") forgetHost();
    byId("end-run").hidden = true;
    showScreen(main, "gone");
  }
}

function onFrame(frame) {
  switch (frame.type) {
    case "welcome":
      applySnapshot(frame.snapshot);
      break;
    case "participant_joined":
      upsert({ participant_id: frame.participant_id, nickname: frame.nickname, connected: false });
      setCount(frame.participant_count);
      break;
    case "participant_kicked":
      state.participants.delete(frame.participant_id);
      setCount(frame.participant_count);
      break;
    case "participant_connection":
      upsert({ participant_id: frame.participant_id, connected: frame.connected });
      break;
    case "lock_changed":
      setLocked(frame.locked);
      break;
    case "run_started":
      state.status = "running";
      state.mode = frame.mode;
      state.questionCount = frame.question_count;
      showRunning();
      break;
    case "question":
      showQuestion(frame.question);
      break;
    case "answer_progress":
      setText(byId("h-answered"), frame.answered);
      setText(byId("h-total"), frame.total);
      break;
    case "question_closed":
      onClosed(frame);
      break;
    case "question_revealed":
      onRevealed(frame.distribution);
      break;
    case "participants_progress":
      // Many at once (coalesced): merged, then drawn once at the next frame.
      for (const participant of frame.participants) upsert(participant);
      break;
    case "participant_finished":
      upsert({ participant_id: frame.participant_id, finished: true, score: frame.score });
      break;
    case "leaderboard":
      onLeaderboard(frame.top);
      setCount(frame.participant_count);
      break;
    case "run_finished":
      showFinal(frame.leaderboard);
      break;
    case "error":
      onErrorFrame(frame);
      break;
    default:
      break;
  }
}

let errorTimer = null;

function onErrorFrame(frame) {
  const box = byId("host-error");
  showError(box, { message: frame.message });
  clearTimeout(errorTimer);
  errorTimer = setTimeout(() => clearBox(box), 8000);
  // The command was refused: its button may be used again.
  const buttons = { start: "start", reveal: "reveal", next: "next" };
  if (buttons[frame.ref] && state.status !== "finished") {
    if (frame.ref === "start") byId("start").disabled = !(state.participantCount > 0);
    else if (frame.ref === "reveal") byId("reveal").disabled = state.phase === "revealed";
    else byId("next").disabled = state.phase !== "revealed";
  }
}

function applySnapshot(snap) {
  setText(byId("run-title"), snap.title);
  document.title = `${snap.title} · speedrun host`;
  state.mode = snap.mode;
  state.status = snap.status;
  state.phase = snap.phase;
  state.questionCount = snap.question_count;
  state.participants = new Map();
  for (const p of snap.participants || []) state.participants.set(p.participant_id, { ...p });
  setLocked(snap.locked);
  setCount(snap.participant_count);
  const paced = snap.mode === "host-paced" ? "host-paced" : "self-paced";
  setText(byId("lobby-about"), `${snap.question_count} questions · ${paced}`);
  onLeaderboard(snap.leaderboard || []);
  if (snap.status === "finished") {
    showFinal(snap.leaderboard);
    return;
  }
  byId("end-run").hidden = false;
  if (snap.status === "lobby") {
    showScreen(main, "lobby");
    return;
  }
  showRunning();
  if (snap.mode === "host-paced") {
    if (snap.current_question) {
      showQuestion(snap.current_question);
      setText(byId("h-answered"), snap.answered ?? 0);
    }
    if (snap.phase === "closed") onClosed({ reason: snap.closed_reason, answered: snap.answered ?? 0 });
    if (snap.phase === "revealed" && snap.last_distribution) onRevealed(snap.last_distribution);
  }
}

function showRunning() {
  byId("end-run").hidden = false;
  if (state.mode === "host-paced") {
    if (main.dataset.current !== "live") {
      showScreen(main, "live");
      setText(byId("h-phase"), "Starting…");
    }
  } else {
    showScreen(main, "dashboard");
    schedulePeople();
  }
}

// ------------------------------------------------------------------------------- people

function upsert(update) {
  const known = state.participants.get(update.participant_id) || {
    participant_id: update.participant_id,
    nickname: "",
    score: 0,
    answered_count: 0,
    correct_count: 0,
    finished: false,
    connected: false,
  };
  const merged = { ...known };
  for (const [k, v] of Object.entries(update)) if (v !== undefined) merged[k] = v;
  state.participants.set(update.participant_id, merged);
  schedulePeople();
}

function setCount(count) {
  if (typeof count !== "number") return;
  state.participantCount = count;
  setText(byId("lobby-count"), count);
  if (main.dataset.current !== "live") setText(byId("h-total"), count);
  byId("start").disabled = !(count > 0 && state.status === "lobby");
  schedulePeople();
}

function setLocked(locked) {
  state.locked = Boolean(locked);
  const button = byId("lock");
  button.setAttribute("aria-pressed", String(state.locked));
  setText(button, state.locked ? "Unlock joining" : "Lock joining");
}

function kickButton(p) {
  return h("button", {
    type: "button",
    class: "secondary",
    "aria-label": `Kick ${p.nickname}`,
    text: "Kick",
    onclick: () => state.socket.send({ type: "kick", participant_id: p.participant_id }),
  });
}

/**
 * Draw the players at the next frame, once however many frames changed them meanwhile: a burst
 * of joins (two frames per player) redrew the whole list per frame, which at 1,000 players kept
 * the page busy for ten seconds after the last join.
 */
function schedulePeople() {
  if (state.renderQueued) return;
  state.renderQueued = true;
  requestAnimationFrame(() => {
    state.renderQueued = false;
    renderPeople();
  });
}

function renderMore(node, hidden) {
  setText(node, hidden ? `and ${hidden} more: find a player by name` : "");
  node.hidden = hidden === 0;
}

function renderPeople() {
  const people = [...state.participants.values()];
  const found = state.filter
    ? people.filter((p) => p.nickname.toLowerCase().includes(state.filter))
    : people;
  const hidden = Math.max(0, found.length - SHOWN);
  const finding = people.length > SHOWN || state.filter !== "";
  byId("lobby-find").hidden = !finding;
  byId("dash-find").hidden = !finding;
  // The lobby: the latest to join (the list is in joining order).
  fill(
    byId("lobby-people"),
    found.slice(-SHOWN).map((p) =>
      h("li", { dataset: { pid: p.participant_id } }, h("span", { class: "nick", text: p.nickname }), kickButton(p)),
    ),
  );
  renderMore(byId("lobby-more"), hidden);
  if (state.mode !== "self-paced" || state.status === "lobby") return;
  // The dashboard: the best.
  const total = state.questionCount || 1;
  found.sort((a, b) => b.score - a.score || a.nickname.localeCompare(b.nickname));
  fill(
    byId("dash-rows"),
    found.slice(0, SHOWN).map((p) =>
      h(
        "tr",
        { dataset: { pid: p.participant_id } },
        h("th", { scope: "row", class: "nick", text: p.nickname }),
        h(
          "td",
          {},
          h("progress", {
            max: String(total),
            value: String(p.answered_count || 0),
            "aria-label": `${p.nickname}: ${p.answered_count || 0} of ${total} answered`,
          }),
          h("span", { class: "muted", text: ` ${p.answered_count || 0}/${total}` }),
        ),
        h("td", { class: "num", text: p.correct_count || 0 }),
        h("td", { class: "num", text: p.score || 0 }),
        h("td", { text: p.finished ? "Finished ✓" : p.connected ? "Playing" : "Offline" }),
        h("td", {}, kickButton(p)),
      ),
    ),
  );
  renderMore(byId("dash-more"), hidden);
}

function onLeaderboard(top) {
  state.leaderboard = top || [];
  for (const e of state.leaderboard) {
    const p = state.participants.get(e.participant_id);
    if (p) p.score = e.score;
  }
  renderLeaderboard(byId("h-board"), state.leaderboard);
  renderLeaderboard(byId("dash-board"), state.leaderboard);
  if (state.mode === "self-paced" && state.status === "running") schedulePeople();
}

// ------------------------------------------------------------------------------- host-paced

function showQuestion(q) {
  state.question = q;
  state.phase = "question";
  showRunning();
  setText(byId("hq-number"), `Question ${q.question_index + 1} of ${q.question_count}`);
  setText(byId("hq-category"), q.category || "");
  setText(byId("hq-text"), q.text);
  byId("h-options").classList.remove("revealed");
  fill(
    byId("h-options"),
    q.options.map((text, i) =>
      h(
        "div",
        { class: "answer button", dataset: { i: String(i) } },
        h("span", { class: "shape", "aria-hidden": "true", text: SHAPES[i] }),
        h("span", { class: "opt-text", text }),
      ),
    ),
  );
  state.countdown.start(q.deadline_ms, q.time_limit_s);
  setText(byId("h-answered"), 0);
  setText(byId("h-total"), state.participantCount);
  setText(byId("h-phase"), q.multi ? "Answering open (select all that apply)" : "Answering open");
  fill(byId("h-dist"), h("p", { class: "muted", text: "Shown at the reveal." }));
  byId("reveal").disabled = false;
  byId("next").disabled = true;
  setText(byId("next"), "Next question");
}

function onClosed(frame) {
  state.phase = "closed";
  state.countdown.stop("0s");
  // Exact at the close: the answer_progress views before it are coalesced.
  setText(byId("h-answered"), frame.answered);
  const why = { deadline: "time is up", all_answered: "everyone answered", host: "closed by you" };
  const reason = why[frame.reason];
  setText(byId("h-phase"), reason ? `Answering closed: ${reason}.` : "Answering closed.");
  byId("reveal").disabled = false;
}

function onRevealed(dist) {
  state.phase = "revealed";
  state.countdown.stop("0s");
  const options =
    state.question && state.question.question_index === dist.question_index
      ? state.question.options
      : dist.counts.map((_, i) => SHAPES[i]);
  renderDistribution(byId("h-dist"), options, dist);
  const correct = new Set(dist.correct_options);
  byId("h-options").classList.add("revealed");
  byId("h-options")
    .querySelectorAll(".answer")
    .forEach((node, i) => node.classList.toggle("correct", correct.has(i)));
  setText(byId("h-answered"), dist.answered);
  setText(byId("h-phase"), `${dist.correct} of ${dist.answered} answered correctly.`);
  byId("reveal").disabled = true;
  byId("next").disabled = false;
  const last = dist.question_index + 1 >= state.questionCount;
  setText(byId("next"), last ? "Show the podium" : "Next question");
}

// ------------------------------------------------------------------------------- results

async function showFinal(leaderboard) {
  state.status = "finished";
  state.countdown?.stop();
  byId("end-run").hidden = true;
  const board = leaderboard && leaderboard.length ? leaderboard : state.leaderboard;
  renderPodium(byId("podium"), board);
  renderResults(board.map((e) => ({ ...e, correct_count: state.participants.get(e.participant_id)?.correct_count })));
  showScreen(main, "final");
  try {
    const results = await request(
      "GET",
      `/signon/speedruns/${encodeURIComponent(state.host.speedrun_id)}/results`,
      { token: state.host.host_token },
    );
    const rows = (results.participants || []).filter((p) => !p.kicked);
    rows.sort((a, b) => a.rank - b.rank);
    if (rows.length) renderResults(rows);
    if (results.leaderboard && results.leaderboard.length) renderPodium(byId("podium"), results.leaderboard);
  } catch (error) {
    // The live leaderboard is still on screen; say why the full table is missing.
    showError(byId("final-error"), {
      message: `The full results could not be loaded: ${error.message}`,
      details: error.details || [],
    });
  }
}

function renderResults(rows) {
  fill(
    byId("results-rows"),
    rows.map((r) =>
      h(
        "tr",
        {},
        h("td", { class: "num", text: r.rank }),
        h("th", { scope: "row", class: "nick", text: r.nickname }),
        h("td", { class: "num", text: r.score }),
        h("td", { class: "num", text: r.correct_count ?? "" }),
      ),
    ),
  );
}

async function onDownload(format) {
  const box = byId("final-error");
  clearBox(box);
  try {
    await download(
      `/signon/speedruns/${encodeURIComponent(state.host.speedrun_id)}/results?format=${format}`,
      state.host.host_token,
      `speedrun-${state.host.speedrun_id}.${format}`,
    );
  } catch (error) {
    showError(box, error instanceof ApiError ? error : { message: String(error) });
  }
}

function newGame() {
  state.socket?.stop();
  forgetHost();
  location.href = "host.html";
}

// ------------------------------------------------------------------------------- wiring

let endArmed = null;
byId("end-run").addEventListener("click", () => {
  const button = byId("end-run");
  if (!endArmed) {
    // Two steps instead of confirm(): a mis-click must not end everyone's game.
    setText(button, "Click again to end");
    endArmed = setTimeout(() => {
      endArmed = null;
      setText(button, "End run");
    }, 4000);
    return;
  }
  clearTimeout(endArmed);
  endArmed = null;
  setText(button, "End run");
  state.socket.send({ type: "end" });
});
byId("start").addEventListener("click", () => {
  if (state.socket.send({ type: "start" })) byId("start").disabled = true;
});
byId("lock").addEventListener("click", () => state.socket.send({ type: "lock", locked: !state.locked }));
byId("reveal").addEventListener("click", () => {
  if (state.socket.send({ type: "reveal" })) byId("reveal").disabled = true;
});
byId("next").addEventListener("click", () => {
  if (state.socket.send({ type: "next" })) byId("next").disabled = true;
});
for (const id of ["lobby-filter", "dash-filter"]) {
  byId(id).addEventListener("input", (event) => {
    const text = event.target.value;
    for (const other of ["lobby-filter", "dash-filter"]) byId(other).value = text;
    state.filter = text.trim().toLowerCase();
    renderPeople();
  });
}
byId("dl-csv").addEventListener("click", () => onDownload("csv"));
byId("dl-xlsx").addEventListener("click", () => onDownload("xlsx"));
byId("new-game").addEventListener("click", newGame);
byId("gone-new").addEventListener("click", newGame);
byId("gone-retry").addEventListener("click", () => {
  state.socket.stop();
  startRun(state.host);
});
byId("upload-form").addEventListener("submit", onUpload);
byId("sets-refresh").addEventListener("click", () => loadSets(byId("set-select").value));
byId("set-select").addEventListener("change", (e) => chooseSet(e.target.value));
byId("config-form").addEventListener("submit", onCreate);
byId("q-all").addEventListener("click", () => {
  questionBoxes().forEach((b) => (b.checked = true));
  updateChosen();
});
byId("q-none").addEventListener("click", () => {
  questionBoxes().forEach((b) => (b.checked = false));
  updateChosen();
});

const saved = loadHost();
if (saved) {
  startRun(saved);
} else {
  showScreen(main, "setup");
  loadSets();
}
