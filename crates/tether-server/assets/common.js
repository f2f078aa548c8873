// What every dashboard page shares: the API client, the one live stream,
// DOM building without HTML strings, times, URL state, confirmations and
// errors. Pages import what they need from here:
//
//   import { api, Stream, el, ... } from "./common.js";
//
// Everything here goes through the public API (/api/v1/...): the dashboard
// has no private endpoints, so whatever it does a script can do too.

// ---- the API ---------------------------------------------------------------

/** An API error, as the API answers it: `{code, message, status}`. */
export class ApiFailure extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Encodes query parameters; arrays are comma-joined, empty values left out. */
export function queryString(query) {
  if (!query) return "";
  const p = query instanceof URLSearchParams ? new URLSearchParams(query) : new URLSearchParams();
  if (!(query instanceof URLSearchParams)) {
    for (const [k, v] of Object.entries(query)) {
      if (v === undefined || v === null || v === "" || (Array.isArray(v) && v.length === 0)) continue;
      p.set(k, Array.isArray(v) ? v.join(",") : String(v));
    }
  }
  const s = p.toString();
  return s ? "?" + s : "";
}

/**
 * Calls the API and returns its JSON (or text; null for 204).
 * - Every call sends `X-Tether-Request: 1`: the session cookie acts only with it,
 *   which a form on another site cannot send.
 * - A 401 goes to the sign-in page (and comes back here after), unless
 *   `onUnauthorized: "throw"`.
 * - A failure throws an ApiFailure whose message is the API's, which says what to do.
 */
export async function api(path, { method = "GET", body, query, onUnauthorized = "login", signal } = {}) {
  const headers = { "X-Tether-Request": "1", Accept: "application/json" };
  let payload;
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path + queryString(query), {
      method,
      headers,
      body: payload,
      credentials: "same-origin",
      signal,
    });
  } catch (e) {
    if (e.name === "AbortError") throw e;
    throw new ApiFailure(0, "Unreachable", "the tether server did not answer: check that it is running, then try again");
  }
  if (response.status === 401 && onUnauthorized === "login") {
    toLogin();
    throw new ApiFailure(401, "Unauthenticated", "your session has ended: sign in again");
  }
  if (!response.ok) {
    let e = {};
    try {
      e = await response.json();
    } catch {
      // Not the API's JSON (a proxy's page, say): the status line must do.
    }
    throw new ApiFailure(response.status, e.code || "HTTP" + response.status, e.message || `HTTP ${response.status} ${response.statusText}`);
  }
  if (response.status === 204 || response.status === 202 && response.headers.get("content-length") === "0") return null;
  const type = response.headers.get("content-type") || "";
  return type.includes("json") ? response.json() : response.text();
}

/** Only a path on this origin may be where sign-in returns to. */
export function safeNext(next) {
  // Parsed as the browser will parse it (which drops tabs and newlines, so
  // "/\t/evil.example" is "//evil.example"), and kept only on this origin.
  if (!next) return "/";
  try {
    const url = new URL(next, location.origin);
    return url.origin === location.origin ? url.pathname + url.search + url.hash : "/";
  } catch {
    return "/";
  }
}

let leaving = false;
/** Goes to the sign-in page, which brings the user back here. */
export function toLogin() {
  if (leaving) return;
  leaving = true;
  location.assign("/login?next=" + encodeURIComponent(location.pathname + location.search));
}

// ---- the live stream -------------------------------------------------------

let currentStream = null;

/**
 * The page's one connection to /api/v1/stream (see docs/stream.md).
 *
 * `handlers` maps event names (`snapshot`, `changes`, `app`) to functions
 * taking the parsed data. The stream:
 * - pauses while the tab is hidden and resumes (with the last event id, so
 *   nothing is missed) when it is shown again;
 * - reconnects with exponential backoff (1 s doubling to 30 s) after an error;
 * - goes to the sign-in page when the token is refused or revoked.
 * A page holds one: starting another stops the previous one.
 */
export class Stream {
  constructor(query, handlers) {
    if (currentStream) currentStream.stop();
    currentStream = this;
    this.query = query;
    this.handlers = handlers;
    this.source = null;
    this.lastId = null;
    this.delay = 1000;
    this.timer = null;
    this.stopped = false;
    this.onVisibility = () => (document.hidden ? this.pause() : this.resume());
    document.addEventListener("visibilitychange", this.onVisibility);
    if (document.hidden) this.pause();
    else this.connect();
  }

  /** Subscribes to something else: a fresh snapshot follows. */
  setQuery(query) {
    this.query = query;
    this.lastId = null;
    this.close();
    if (!document.hidden && !this.stopped) this.connect();
  }

  connect() {
    this.close();
    const query = new URLSearchParams(queryString(this.query));
    if (this.lastId) query.set("lastEventId", this.lastId);
    const qs = query.toString();
    const source = new EventSource("/api/v1/stream" + (qs ? "?" + qs : ""));
    this.source = source;
    setStreamState("connecting");
    source.onopen = () => {
      this.delay = 1000;
      setStreamState("open");
    };
    for (const [name, handle] of Object.entries(this.handlers)) {
      source.addEventListener(name, (e) => {
        if (e.lastEventId) this.lastId = e.lastEventId;
        let data;
        try {
          data = JSON.parse(e.data);
        } catch {
          return;
        }
        handle(data);
      });
    }
    source.addEventListener("close", (e) => {
      let why = {};
      try {
        why = JSON.parse(e.data);
      } catch {
        // A close without a reason: reconnect.
      }
      this.close();
      if (why.reason === "unauthenticated") toLogin();
      else this.retry();
    });
    // Any error: take over from the browser's own retry, which has no backoff
    // and gives up for good on a 401.
    source.onerror = () => {
      if (this.source !== source) return;
      this.close();
      this.retry();
    };
  }

  async retry() {
    if (this.stopped || document.hidden) return;
    // A refused token ends the stream for good: check before waiting.
    try {
      await api("/api/v1/session");
    } catch (e) {
      if (e.status === 401) return;
    }
    // The tab may have been hidden (or the page left) while we asked.
    if (this.stopped || document.hidden) return;
    const wait = this.delay * (0.8 + Math.random() * 0.4);
    this.delay = Math.min(this.delay * 2, 30000);
    setStreamState("connecting", Math.round(wait / 1000));
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), wait);
  }

  pause() {
    this.close();
    setStreamState("paused");
  }

  resume() {
    if (!this.stopped && !this.source) this.connect();
  }

  close() {
    clearTimeout(this.timer);
    if (this.source) {
      this.source.close();
      this.source = null;
    }
  }

  stop() {
    this.stopped = true;
    this.close();
    document.removeEventListener("visibilitychange", this.onVisibility);
    setStreamState("closed");
    if (currentStream === this) currentStream = null;
  }
}

function setStreamState(state, retryInSeconds) {
  document.body.dataset.stream = state;
  const live = document.getElementById("live");
  if (!live) return;
  live.dataset.state = state;
  live.textContent = {
    connecting: retryInSeconds ? `Reconnecting in ${retryInSeconds} s…` : "Connecting…",
    open: "Live",
    paused: "Paused while hidden",
    closed: "",
  }[state];
}

// ---- building the page -----------------------------------------------------

/**
 * Creates an element. `attrs`: `class`, `dataset` (an object), `on<event>`
 * (a function), `value`/`checked` (set as properties), anything else as an
 * attribute (true: present; false/null/undefined: absent). Children are
 * nodes or text; text is never parsed as HTML.
 */
export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "dataset") Object.assign(node.dataset, v);
    else if (k === "value" || k === "checked") node[k] = v;
    else if (k.startsWith("on") && typeof v === "function") node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : String(c));
  }
}

/** Replaces a node's children. */
export function fill(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

/** A status badge: `badge("health", "Degraded")`; color and text, never color alone. */
export function badge(kind, value) {
  const v = value || "Unknown";
  return el("span", { class: `badge ${kind} ${kind}-${v.toLowerCase()}`, title: `${kind}: ${v}` }, v);
}

/** The first 7 characters of a commit. */
export function shortRev(rev) {
  return rev ? String(rev).slice(0, 7) : "";
}

/**
 * Paging by the API's continue tokens: the tokens of the pages before this
 * one (so Previous needs no offsets), this page's (null: the first) and the
 * next's. Tokens stay in memory, so a shared URL always opens the first page.
 */
export class Pages {
  constructor() {
    this.reset();
  }

  /** Back to the first page (the filters changed). */
  reset() {
    this.before = [];
    this.current = null;
    this.next = null;
  }

  /** How many pages come before this one. */
  get index() {
    return this.before.length;
  }

  /** The Previous and Next buttons (`data-page`); `turn()` loads `this.current`. */
  buttons(turn, [previous, next] = ["Previous page", "Next page"]) {
    const go = (to) => () => {
      if (to === "previous") this.current = this.before.pop() ?? null;
      else {
        this.before.push(this.current);
        this.current = this.next;
      }
      turn();
    };
    return [
      el("button", { type: "button", dataset: { page: "previous" }, disabled: this.before.length === 0, onclick: go("previous") }, previous),
      el("button", { type: "button", dataset: { page: "next" }, disabled: !this.next, onclick: go("next") }, next),
    ];
  }
}

/** Sets `data-ready` on <main> and marks the first render (tests and benchmarks read both). */
export function markReady() {
  const main = document.getElementById("main");
  if (main.dataset.ready !== "true") {
    main.dataset.ready = "true";
    performance.mark("tether:rendered");
  }
}

/** Marks that a stream update has been applied to the page. */
export function markUpdate() {
  performance.mark("tether:update");
}

export function debounce(fn, ms) {
  let t;
  return (...args) => {
    clearTimeout(t);
    t = setTimeout(() => fn(...args), ms);
  };
}

// ---- times -----------------------------------------------------------------

/** "just now", "5m ago", "3h ago", "2d ago", "in 4m". */
export function relTime(iso, now = Date.now()) {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return "";
  const s = Math.round((now - t) / 1000);
  const a = Math.abs(s);
  if (a < 10) return "just now";
  const [n, unit] =
    a < 60 ? [a, "s"] : a < 3600 ? [Math.floor(a / 60), "m"] : a < 86400 ? [Math.floor(a / 3600), "h"] : [Math.floor(a / 86400), "d"];
  return s >= 0 ? `${n}${unit} ago` : `in ${n}${unit}`;
}

/** A <time> showing the relative time, with the exact time on hover. */
export function timeEl(iso, empty = "never") {
  if (!iso) return el("span", { class: "muted" }, empty);
  const d = new Date(iso);
  return el("time", { datetime: iso, title: `${d.toLocaleString()} (${iso})` }, relTime(iso));
}

setInterval(() => {
  for (const t of document.querySelectorAll("time[datetime]")) {
    const text = relTime(t.dateTime);
    if (t.textContent !== text) t.textContent = text;
  }
}, 30000);

// ---- URL state -------------------------------------------------------------

/** The page's query string: every filter and selection lives there. */
export function params() {
  return new URLSearchParams(location.search);
}

/** Updates the query string (`null`/`""`/`[]` removes a key) without reloading. */
export function setParams(updates, { push = false } = {}) {
  const p = params();
  for (const [k, v] of Object.entries(updates)) {
    if (v === undefined || v === null || v === "" || (Array.isArray(v) && v.length === 0)) p.delete(k);
    else p.set(k, Array.isArray(v) ? v.join(",") : String(v));
  }
  const qs = p.toString();
  const url = location.pathname + (qs ? "?" + qs : "");
  if (url === location.pathname + location.search) return;
  if (push) history.pushState(null, "", url);
  else history.replaceState(null, "", url);
}

// ---- confirmations and errors ----------------------------------------------

/**
 * Asks before an action, saying what will happen. Resolves true on OK.
 * `body`: text or nodes. Cancel has the focus, so Enter never destroys by accident.
 */
export function confirmAction({ title, body, ok = "OK", danger = false }) {
  const dialog = document.getElementById("confirm");
  document.getElementById("confirm-title").textContent = title;
  fill(document.getElementById("confirm-body"), body);
  const okButton = document.getElementById("confirm-ok");
  okButton.textContent = ok;
  okButton.classList.toggle("danger", danger);
  dialog.returnValue = "";
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.showModal();
    document.getElementById("confirm-cancel").focus();
  });
}

const HINTS = {
  403: "Your token may only read: ask for an admin token (tether token create NAME --role admin).",
  404: "It may have been deleted: go back to the list.",
  409: "Wait until the current operation ends, then try again.",
  503: "The server is still starting: try again in a few seconds.",
};

/** Shows an API failure where the action was taken: what failed, why, and what to do. */
export function showError(target, doing, error) {
  const hint = HINTS[error.status];
  fill(target, el("strong", {}, `${doing} failed: `), error.message || String(error), hint ? el("span", { class: "hint" }, " " + hint) : null);
  target.hidden = false;
}

export function clearError(target) {
  target.hidden = true;
  target.replaceChildren();
}

// ---- the header: who is signed in, and signing out -------------------------

/** Who is signed in (`{username, role, actor}`), once per page; null on the sign-in page. */
export const session = document.getElementById("who")
  ? api("/api/v1/session").then((who) => {
      document.body.dataset.role = who.role;
      fill(document.getElementById("who"), el("span", { title: `acts as ${who.actor}` }, who.username), ` (${who.role})`);
      return who;
    })
  : Promise.resolve(null);

/** Whether the signed-in token may act (sync, refresh, rollback, delete). */
export async function canAct() {
  const who = await session.catch(() => null);
  return who?.role === "admin";
}

document.getElementById("sign-out")?.addEventListener("click", async () => {
  try {
    await api("/api/v1/session", { method: "DELETE", onUnauthorized: "throw" });
  } finally {
    currentStream?.stop();
    location.assign("/login");
  }
});
