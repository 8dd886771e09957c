// The WebSocket to the speedrun service: hello, sequence tracking, server clock, and reconnection
// with exponential backoff and jitter. The protocol is libs/protocol/.../frames.py.

/** Close codes after which reconnecting cannot help (see CloseCode in errors.py). */
const FINAL_CLOSES = new Map([
  [4001, "invalid_token"], // token forged, expired, or the run is gone
  [4003, "protocol_error"], // we spoke a version the server does not
  [4004, "kicked"], // the host removed this participant
  [4009, "replaced"], // the same player or host opened in another tab
]);

/** Views and replies: not numbered run events, so their seq is not a new one. */
const VIEW_TYPES = new Set([
  "leaderboard", "lobby", "answer_progress", "answer_accepted", "error", "pong",
]);

/**
 * Closes of a welcomed socket after which another server can take it at once: the server went
 * away (1001), restarted or deployed (1012), gave up on a slow socket (4008), or the connection
 * was cut (1006). The first retry then waits only a small jitter, not the backoff.
 */
const GO_ELSEWHERE = new Set([1001, 1006, 1012, 4008]);
const HERD_JITTER_MS = 100;
const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 15_000;

/** The URL of the speedrun WebSocket on this origin. */
export function socketUrl(path = "/speedrun") {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${location.host}${path.startsWith("/") ? path : "/" + path}`;
}

export class RunSocket {
  /**
   * @param {object} options
   * @param {string} options.token host or participant token from sign-on
   * @param {string} [options.path] the websocket path from sign-on
   * @param {(frame: object) => void} options.onFrame every frame, welcome included, in order
   * @param {(state: string, info?: object) => void} options.onState connecting | open |
   *   reconnecting | closed (info.reason for a final close)
   */
  constructor({ token, path, onFrame, onState }) {
    this.token = token;
    this.path = path || "/speedrun";
    this.onFrame = onFrame;
    this.onState = onState;
    this.lastSeq = null;
    this.attempt = 0;
    this.ws = null;
    this.timer = null;
    this.stopped = false;
    this.done = false; // the run is over: a normal close is then the end, not a drop
    this.clockOffset = 0; // server clock minus ours, in ms
  }

  /** Milliseconds on the server's clock now. */
  serverNow() {
    return Date.now() + this.clockOffset;
  }

  start() {
    this.stopped = false;
    this.connect(false);
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.ws) this.ws.close(1000);
  }

  /** Send a frame; false when not connected (the caller keeps its UI as it was). */
  send(frame) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN || !this.welcomed) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  connect(isRetry) {
    this.onState(isRetry ? "reconnecting" : "connecting");
    this.welcomed = false;
    let ws;
    try {
      ws = new WebSocket(socketUrl(this.path));
    } catch {
      this.scheduleRetry();
      return;
    }
    this.ws = ws;
    ws.addEventListener("open", () => {
      const hello = { type: "hello", token: this.token };
      if (this.lastSeq !== null) hello.last_seq = this.lastSeq;
      ws.send(JSON.stringify(hello));
    });
    ws.addEventListener("message", (event) => this.receive(event.data));
    ws.addEventListener("close", (event) => this.closed(ws, event));
  }

  receive(data) {
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      return;
    }
    if (!frame || typeof frame.type !== "string") return;
    if (frame.type === "welcome") {
      this.welcomed = true;
      this.attempt = 0;
      // resumed: the events after the last_seq we sent follow, so keep counting from it;
      // otherwise the snapshot is all there is, as of its seq.
      if (!frame.resumed || this.lastSeq === null) this.lastSeq = frame.seq || 0;
      if (frame.snapshot && frame.snapshot.status === "finished") this.done = true;
      this.clockOffset = frame.server_time_ms - Date.now();
      this.pingSentAt = Date.now();
      this.onState("open");
      this.onFrame(frame);
      // A ping round trip gives a better clock estimate than the welcome alone.
      this.ws.send(JSON.stringify({ type: "ping", id: this.pingSentAt }));
      return;
    }
    if (frame.type === "pong") {
      if (frame.id === this.pingSentAt) {
        const now = Date.now();
        this.clockOffset = frame.server_time_ms - (this.pingSentAt + now) / 2;
      }
      return;
    }
    const seq = frame.seq || 0;
    // Views (the leaderboard, the lobby count…) are not run events: they repeat the sequence number
    // of the last event delivered, so they are never dropped as duplicates.
    if (seq > 0 && !VIEW_TYPES.has(frame.type)) {
      // Replayed or duplicated events already reflected in what we hold are dropped.
      if (this.lastSeq !== null && seq <= this.lastSeq) return;
      this.lastSeq = seq;
    }
    if (frame.type === "run_finished") this.done = true;
    this.onFrame(frame);
  }

  closed(ws, event) {
    if (ws !== this.ws) return;
    this.ws = null;
    this.welcomed = false;
    if (this.stopped) return;
    const reason = FINAL_CLOSES.get(event.code);
    if (reason) {
      this.onState("closed", { reason, code: event.code });
      return;
    }
    if (this.done && event.code === 1000) {
      this.onState("closed", { reason: "finished", code: event.code });
      return;
    }
    this.scheduleRetry(event.code);
  }

  scheduleRetry(code) {
    this.onState("reconnecting");
    clearTimeout(this.timer);
    if (this.attempt === 0 && GO_ELSEWHERE.has(code)) {
      this.attempt = 1;
      this.timer = setTimeout(() => this.connect(true), Math.random() * HERD_JITTER_MS);
      return;
    }
    // Exponential backoff with "equal jitter": half fixed, half random, so a room full of
    // phones that lost the same Wi-Fi does not come back in one burst.
    const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** this.attempt);
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    this.attempt += 1;
    this.timer = setTimeout(() => this.connect(true), delay);
  }
}

/** A countdown bar + seconds driven by the server's clock. */
export class Countdown {
  constructor(root, socket) {
    this.root = root;
    this.fillEl = root.querySelector(".fill");
    this.secsEl = root.querySelector(".secs span");
    this.socket = socket;
    this.timer = null;
  }

  start(deadlineMs, totalS) {
    this.deadline = deadlineMs;
    this.total = Math.max(1, totalS) * 1000;
    clearInterval(this.timer);
    this.tick();
    this.timer = setInterval(() => this.tick(), 200);
  }

  stop(label) {
    clearInterval(this.timer);
    this.timer = null;
    if (label !== undefined) this.secsEl.textContent = label;
    if (label === "0s") this.fillEl.style.width = "0%";
  }

  remainingMs() {
    return Math.max(0, this.deadline - this.socket.serverNow());
  }

  tick() {
    const left = this.remainingMs();
    const fraction = Math.min(1, left / this.total);
    this.fillEl.style.width = `${(fraction * 100).toFixed(1)}%`;
    const secs = Math.ceil(left / 1000);
    this.secsEl.textContent = `${secs}s`;
    this.root.setAttribute("aria-valuenow", String(secs));
    if (left <= 0) this.stop("0s");
  }
}
