// The audit page: the audit log across apps, filtered by app, object, actor,
// kind and time, newest first, paged by the server. Every filter is in the
// URL. Each record says how the change came: through Git (at which commit),
// by a person or tool outside Git (drift: the field manager, e.g. kubectl),
// or through the API (which token).
//
// "Who changed deployment web in prod last Tuesday, and was it through Git?"
// is two clicks: the object on any of its records (filters to it), then the
// day's heading (filters to that day).
import {
  api,
  Pages,
  el,
  fill,
  badge,
  shortRev,
  timeEl,
  params,
  setParams,
  debounce,
  showError,
  clearError,
  markReady,
} from "./common.js";

const KINDS = [
  ["", "Any kind"],
  ["sync", "Sync"],
  ["object-change", "Object changed by a sync"],
  ["drift", "Drift (changed outside Git)"],
  ["self-heal", "Self-heal"],
  ["rollback", "Rollback"],
  ["prune", "Prune"],
  ["api-request", "API request"],
  ["error", "Error"],
  ["notification", "Notification"],
];
const QUICK = [
  ["1h", "Last hour"],
  ["24h", "24 hours"],
  ["7d", "7 days"],
  ["30d", "30 days"],
];
const KEYS = ["app", "object", "actor", "kind", "since", "until"];
const DEFAULT_LIMIT = 100;

const main = document.getElementById("main");
const errorBox = document.getElementById("error");
const form = document.getElementById("filters");
const recordsBox = document.getElementById("records");
const pager = document.getElementById("pager");

let state = readState();
/** Which page of the answer is shown (continue tokens). */
const paging = new Pages();
let loading = 0;
const controls = {};

function readState() {
  const p = params();
  const s = {};
  for (const k of KEYS) s[k] = p.get(k) || "";
  const limit = Number(p.get("limit"));
  s.limit = Number.isInteger(limit) && limit >= 1 && limit <= 1000 ? limit : DEFAULT_LIMIT;
  return s;
}

function writeUrl() {
  const u = {};
  for (const k of KEYS) u[k] = state[k];
  u.limit = state.limit === DEFAULT_LIMIT ? null : state.limit;
  setParams(u);
}

function changed() {
  writeUrl();
  paging.reset();
    syncControls();
  load();
}

function set(updates) {
  Object.assign(state, updates);
  changed();
}

// ---- times: the URL holds RFC 3339 or a duration (1h, 7d); the inputs are local -----

const DURATION = /^\d+[smhdw]$/;

function toLocalInput(value) {
  if (!value || DURATION.test(value)) return "";
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return "";
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function fromLocalInput(value) {
  if (!value) return "";
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? "" : d.toISOString().replace(/\.000Z$/, "Z");
}

function startOfDay(iso) {
  const d = new Date(iso);
  d.setHours(0, 0, 0, 0);
  return d;
}

function dayLabel(d) {
  return d.toLocaleDateString(undefined, { weekday: "long", year: "numeric", month: "long", day: "numeric" });
}

// ---- filters -----------------------------------------------------------------------

function buildFilters() {
  const typed = debounce(changed, 300);
  const text = (key, label, placeholder, hint, list) => {
    const input = el("input", {
      type: "text",
      id: "f-" + key,
      placeholder,
      autocomplete: "off",
      spellcheck: "false",
      list,
      "aria-describedby": hint ? `f-${key}-hint` : null,
    });
    input.addEventListener("input", () => {
      state[key] = input.value.trim();
      typed();
    });
    controls[key] = input;
    return el(
      "div",
      { class: "audit-field audit-field-" + key },
      el("label", { for: input.id }, label),
      input,
      hint ? el("span", { class: "audit-hint", id: `f-${key}-hint` }, hint) : null,
    );
  };
  const kind = el("select", { id: "f-kind" }, KINDS.map(([v, t]) => el("option", { value: v }, t)));
  kind.addEventListener("change", () => set({ kind: kind.value }));
  controls.kind = kind;
  const time = (key, label) => {
    const input = el("input", { type: "datetime-local", id: "f-" + key });
    input.addEventListener("change", () => set({ [key]: fromLocalInput(input.value) }));
    controls[key] = input;
    return el("div", { class: "audit-field audit-field-time" }, el("label", { for: input.id }, label), input);
  };
  controls.quick = QUICK.map(([value, text]) =>
    el("button", { type: "button", dataset: { since: value }, onclick: () => set({ since: state.since === value && !state.until ? "" : value, until: "" }) }, text),
  );
  controls.anytime = el("button", { type: "button", dataset: { since: "" }, onclick: () => set({ since: "", until: "" }) }, "Any time");
  controls.clear = el(
    "button",
    { type: "button", class: "quiet", onclick: () => set(Object.fromEntries(KEYS.map((k) => [k, ""]))) },
    "Clear filters",
  );
  fill(
    form,
    el(
      "div",
      { class: "audit-filter-row" },
      text("app", "Application", "NAMESPACE/NAME, or a name", "Several: comma-separated"),
      text("object", "Object", "e.g. deployment web", "Words that all appear: kind, namespace, name"),
      text("actor", "Actor", "e.g. token:ci, kubectl*", "Exact, or a prefix ending in *", "audit-actors"),
      el("div", { class: "audit-field" }, el("label", { for: "f-kind" }, "Kind of event"), kind),
    ),
    el(
      "div",
      { class: "audit-filter-row" },
      time("since", "From"),
      time("until", "Until"),
      el("div", { class: "audit-quick", role: "group", "aria-label": "Time range" }, controls.quick, controls.anytime),
      controls.clear,
    ),
    el(
      "datalist",
      { id: "audit-actors" },
      ["token:*", "kubectl*", "auto", "webhook", "self-heal"].map((v) => el("option", { value: v })),
    ),
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    changed();
  });
}

function syncControls() {
  for (const k of ["app", "object", "actor"]) {
    if (document.activeElement !== controls[k] || controls[k].value.trim() !== state[k]) controls[k].value = state[k];
  }
  if (state.kind && ![...controls.kind.options].some((o) => o.value === state.kind)) {
    controls.kind.append(el("option", { value: state.kind }, state.kind));
  }
  controls.kind.value = state.kind;
  controls.since.value = toLocalInput(state.since);
  controls.until.value = toLocalInput(state.until);
  for (const b of controls.quick) b.setAttribute("aria-pressed", String(state.since === b.dataset.since && !state.until));
  controls.anytime.setAttribute("aria-pressed", String(!state.since && !state.until));
  controls.clear.disabled = KEYS.every((k) => !state[k]);
}

// ---- loading ------------------------------------------------------------------------

function query() {
  const q = {};
  for (const k of KEYS) q[k] = state[k];
  q.limit = state.limit;
  q.continue = paging.current;
  return q;
}

async function fetchPage() {
  try {
    return await api("/api/v1/audit", { query: query() });
  } catch (e) {
    // An agent from before the cross-app route: ask each app's own route.
    if (e.status !== 404 || e.code !== "NotFound" || !/route/i.test(e.message)) throw e;
    return perAppFallback();
  }
}

async function perAppFallback() {
  let keys = state.app ? state.app.split(",").map((s) => s.trim()).filter(Boolean) : [];
  if (keys.length === 0 || keys.some((k) => !k.includes("/"))) {
    const list = await api("/api/v1/applications", { query: { limit: 100, name: keys.filter((k) => !k.includes("/")).join(",") } });
    keys = [...keys.filter((k) => k.includes("/")), ...list.items.map((r) => `${r.namespace}/${r.name}`)];
  }
  const q = query();
  delete q.app;
  delete q.continue;
  const all = [];
  for (const key of keys) {
    const [ns, name] = key.split("/");
    try {
      const r = await api(`/api/v1/applications/${encodeURIComponent(ns)}/${encodeURIComponent(name)}/audit`, { query: q });
      all.push(...(r.items || []));
    } catch (e) {
      if (e.status !== 404) throw e;
    }
  }
  all.sort(newestFirst);
  return { items: all.slice(0, state.limit), metadata: {} };
}

function newestFirst(a, b) {
  const t = Date.parse(b.time) - Date.parse(a.time);
  return t || (b.id ?? 0) - (a.id ?? 0);
}

async function load() {
  const mine = ++loading;
  main.setAttribute("aria-busy", "true");
  try {
    const answer = await fetchPage();
    if (mine !== loading) return;
    clearError(errorBox);
    paging.next = answer.metadata?.continue || null;
    render((answer.items || []).slice().sort(newestFirst));
  } catch (e) {
    if (mine !== loading) return;
    showError(errorBox, "Reading the audit log", e);
    fill(recordsBox);
    paging.next = null;
    renderPager(0);
  } finally {
    if (mine === loading) {
      main.setAttribute("aria-busy", "false");
      markReady();
    }
  }
}

// ---- one record -----------------------------------------------------------------------

function appLink(key) {
  const [ns, name] = String(key).split("/");
  if (!name) return el("span", {}, key);
  return el("a", { href: `/applications/${encodeURIComponent(ns)}/${encodeURIComponent(name)}` }, key);
}

function filterButton(label, title, updates) {
  return el("button", { type: "button", class: "audit-filter-link", title, "aria-label": title, onclick: () => set(updates) }, label);
}

/** How the change came: through Git, outside Git (drift), or through the API. */
function how(r) {
  const actor = r.actor || "";
  const commit = r.revision
    ? el(
        "span",
        { class: "audit-commit" },
        el("code", { title: r.revision }, shortRev(r.revision)),
        r.commit_message ? [" ", el("q", {}, r.commit_message.split("\n")[0])] : null,
        r.commit_author ? el("span", { class: "muted" }, " by " + r.commit_author) : null,
      )
    : null;
  const who = filterButton(actor || "unknown", `Show only records by ${actor || "unknown"}`, { actor });
  // The API says how (`via`: git, drift, api, agent); older agents leave it to the kind.
  const via =
    r.via ||
    (r.kind === "drift"
      ? "drift"
      : r.kind === "api-request"
        ? "api"
        : r.kind === "error" || r.kind === "notification"
          ? "agent"
          : "git");
  if (via === "drift") {
    const tool = actor.startsWith("kubectl") ? "" : actor === "deleted" ? "deleted outside tether; " : "a person or tool; ";
    return el(
      "div",
      { class: "audit-how audit-how-drift", dataset: { how: "drift" } },
      el("span", { class: "badge drift" }, "Not through Git"),
      " by ",
      who,
      el("span", { class: "muted" }, ` (${tool}drift: changed in the cluster, not in Git)`),
    );
  }
  if (via === "api") {
    return el(
      "div",
      { class: "audit-how audit-how-api", dataset: { how: "api" } },
      el("span", { class: "badge audit-api" }, "API token"),
      " ",
      who,
    );
  }
  if (via === "agent") {
    return el("div", { class: "audit-how", dataset: { how: "agent" } }, who);
  }
  if (commit) {
    return el(
      "div",
      { class: "audit-how audit-how-git", dataset: { how: "git" } },
      el("span", { class: "badge audit-git" }, "Via Git"),
      " at commit ",
      commit,
      el("div", { class: "audit-initiator" }, el("span", { class: "muted" }, actor.startsWith("token:") ? "requested with API token " : "started by "), who),
    );
  }
  return el("div", { class: "audit-how", dataset: { how: "other" } }, who);
}

function valueText(v) {
  if (v === undefined || v === null || v === "") return "(none)";
  return v.length > 80 ? v.slice(0, 79) + "…" : v;
}

/** What changed: drift fields (Git → live), an object's action, a sync's counts, the message. */
function what(r) {
  const d = r.details || {};
  const parts = [];
  if (Array.isArray(d.fields) && d.fields.length) {
    parts.push(
      el(
        "ul",
        { class: "audit-fields" },
        d.fields.map((f) =>
          el(
            "li",
            {},
            el("code", {}, f.path),
            ": ",
            el("span", { class: "audit-git-value", title: "In Git" }, valueText(f.git)),
            " → ",
            el("span", { class: "audit-live-value", title: "Live" }, valueText(f.live)),
          ),
        ),
      ),
    );
  } else if (r.message) {
    parts.push(el("div", { class: "audit-message" }, r.message));
  }
  if (r.kind === "sync" && typeof d.changed === "number") {
    parts.push(el("div", { class: "muted" }, `${d.changed} of ${d.objects} objects changed`));
  }
  return parts;
}

function outcome(r) {
  const o = r.outcome || "";
  const cls = { succeeded: "health-healthy", failed: "health-degraded", interrupted: "health-degraded", in_progress: "health-progressing", detected: "sync-outofsync" }[o] || "health-unknown";
  return el("span", { class: `badge ${cls}`, title: `outcome: ${o}` }, o.replace("_", " "));
}

function recordRow(r) {
  return el(
    "tr",
    { dataset: { record: String(r.id ?? ""), kind: r.kind, app: r.app } },
    el("td", { class: "audit-time" }, timeEl(r.time, "")),
    el("td", {}, appLink(r.app), " ", el("button", { type: "button", class: "audit-filter-link audit-only", title: `Show only records of ${r.app}`, onclick: () => set({ app: r.app }) }, "filter")),
    el("td", {}, el("span", { class: `badge audit-kind audit-kind-${r.kind}` }, r.kind), " ", outcome(r)),
    el("td", {}, how(r)),
    el("td", {}, r.object ? filterButton(r.object, `Show only records about ${r.object}`, { object: r.object }) : el("span", { class: "muted" }, "the app")),
    el("td", { class: "audit-what" }, what(r)),
  );
}

function dayRow(day, columns) {
  const next = new Date(day);
  next.setDate(next.getDate() + 1);
  const since = day.toISOString().replace(/\.000Z$/, "Z");
  const until = next.toISOString().replace(/\.000Z$/, "Z");
  const only = state.since === since && state.until === until;
  return el(
    "tr",
    { class: "audit-day" },
    el(
      "th",
      { colspan: String(columns), scope: "colgroup" },
      only
        ? dayLabel(day)
        : el("button", { type: "button", class: "audit-filter-link", title: `Show only ${dayLabel(day)}`, onclick: () => set({ since, until }) }, dayLabel(day)),
    ),
  );
}

function render(items) {
  if (items.length === 0) {
    const filtered = KEYS.some((k) => state[k]);
    fill(recordsBox, el("p", { class: "audit-empty" }, filtered ? "No audit record matches these filters." : "The audit log is empty: syncs, drift and API requests appear here as they happen."));
    renderPager(0);
    return;
  }
  const body = [];
  let day = null;
  for (const r of items) {
    const d = startOfDay(r.time);
    if (!day || d.getTime() !== day.getTime()) {
      day = d;
      body.push(dayRow(d, 6));
    }
    body.push(recordRow(r));
  }
  fill(
    recordsBox,
    el(
      "div",
      { class: "audit-scroll", tabindex: "0", role: "region", "aria-label": "Audit records (scrolls sideways)" },
      el(
        "table",
        { class: "audit-table" },
        el("thead", {}, el("tr", {}, ["Time", "Application", "Kind", "Who, and how", "Object", "What changed"].map((h) => el("th", { scope: "col" }, h)))),
        el("tbody", {}, body),
      ),
    ),
  );
  renderPager(items.length);
}

function renderPager(n) {
  fill(
    pager,
    el("span", { class: "muted", role: "status" }, n ? `${n} ${n === 1 ? "record" : "records"}, newest first` : ""),
    paging.buttons(load, ["Newer records", "Older records"]),
  );
}

// ---- start ---------------------------------------------------------------------------

buildFilters();
syncControls();
window.addEventListener("popstate", () => {
  state = readState();
  paging.reset();
    syncControls();
  load();
});
document.addEventListener("keydown", (e) => {
  if (e.key !== "/" || e.ctrlKey || e.metaKey || e.altKey) return;
  const t = e.target;
  if (t instanceof HTMLInputElement || t instanceof HTMLTextAreaElement || t instanceof HTMLSelectElement) return;
  e.preventDefault();
  controls.object.focus();
});
load();
