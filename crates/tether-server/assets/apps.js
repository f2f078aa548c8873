// The Applications page: every app as a tile or a table row, filtered, sorted
// and paged by the server, counted by sync and health, live.
//
// - Every filter, the sort, the page size and the view live in the URL
//   (replaceState; back and forward re-read it), so a shared link reopens the
//   same view. Continue tokens are kept in memory: a link opens the first page.
// - ONE stream, subscribed with the list's own query: its `snapshot` is the
//   page (rows with their drift), its `changes` update the rows on the page in
//   place (only the touched tiles are rebuilt, keyed by NS/NAME) and the counts.
//   A filter, sort or page change is `stream.setQuery(...)`: still one connection.
// - Only the page of rows is ever in the DOM; the server filters, sorts, pages
//   and counts, so 10,000 apps cost the browser what 60 do.
import {
  api,
  Pages,
  Stream,
  el,
  fill,
  badge,
  shortRev,
  timeEl,
  params,
  setParams,
  debounce,
  confirmAction,
  showError,
  clearError,
  markReady,
  markUpdate,
  canAct,
} from "./common.js";

const SYNC = ["Synced", "OutOfSync", "Unknown"];
const HEALTH = ["Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"];
const SORTS = [
  ["name", "Name (A–Z)"],
  ["-name", "Name (Z–A)"],
  ["namespace", "Namespace"],
  ["repo", "Repository"],
  ["-health", "Health (worst first)"],
  ["health", "Health (best first)"],
  ["sync", "Sync status"],
  ["-lastSync", "Last sync (newest first)"],
  ["lastSync", "Last sync (oldest first)"],
  ["-drift", "Drift (most first)"],
];
const LIMITS = [30, 60, 120, 250, 500];
const DEFAULT_LIMIT = 60;
/** The filters, as the URL and the API name them. */
const FILTER_KEYS = ["q", "namespace", "label", "repo", "sync", "health", "drift"];
/** Drifted objects shown on a tile; the rest are counted. */
const DRIFT_SHOWN = 3;

const main = document.getElementById("main");
const errorBox = document.getElementById("error");
const countsBox = document.getElementById("counts");
const form = document.getElementById("filters");
const bulkBox = document.getElementById("bulk");
const appsBox = document.getElementById("apps");
const pager = document.getElementById("pager");

/** The rows on the page: key "NS/NAME" → {row, node}, in page order. */
const rows = new Map();
/** The keys selected for a bulk action (may include apps no longer on the page). */
const selected = new Set();
/** A word under a tile after an action ("Sync requested"), kept across re-renders for a while. */
const notes = new Map();
/** Which page of the answer is shown (continue tokens). */
const paging = new Pages();
let counts = { total: 0, sync: {}, health: {} };
let total = 0;
let acting = false;
let stream = null;
let state = readState();

// ---- state and URL -----------------------------------------------------------

function readState() {
  const p = params();
  const s = {};
  for (const k of FILTER_KEYS) s[k] = p.get(k) || "";
  s.sort = p.get("sort") || "name";
  const limit = Number(p.get("limit"));
  s.limit = Number.isInteger(limit) && limit >= 1 && limit <= 1000 ? limit : DEFAULT_LIMIT;
  s.view = p.get("view") === "table" ? "table" : "tiles";
  return s;
}

function writeUrl() {
  const u = {};
  for (const k of FILTER_KEYS) u[k] = state[k];
  u.sort = state.sort === "name" ? null : state.sort;
  u.limit = state.limit === DEFAULT_LIMIT ? null : state.limit;
  u.view = state.view === "tiles" ? null : state.view;
  setParams(u);
}

/** The list's query (what the API and the stream take). */
function listQuery() {
  const q = {};
  for (const k of FILTER_KEYS) q[k] = state[k];
  q.sort = state.sort;
  q.limit = state.limit;
  q.continue = paging.current;
  return q;
}

/** The filters changed: first page, new subscription, URL updated. */
function applyFilters() {
  writeUrl();
  paging.reset();
    resubscribe();
  validate();
  syncControls();
}

function resubscribe() {
  if (stream) stream.setQuery(listQuery());
}

// The stream cannot say why it was refused; a bad filter (a label selector
// that does not parse, say) is a 400 whose message says what is accepted.
let validation = 0;
async function validate() {
  const mine = ++validation;
  const q = listQuery();
  q.limit = 1;
  delete q.continue;
  try {
    await api("/api/v1/applications", { query: q });
    if (mine === validation) clearError(errorBox);
  } catch (e) {
    if (mine === validation && e.status !== 401) showError(errorBox, "Filtering the applications", e);
  }
}

// ---- filters -------------------------------------------------------------------

const controls = {};

function field(key, label, input, hint) {
  controls[key] = input;
  input.id = "f-" + key;
  return el(
    "div",
    { class: "apps-field apps-field-" + key },
    el("label", { for: input.id }, label),
    input,
    hint ? el("span", { class: "apps-hint", id: input.id + "-hint" }, hint) : null,
  );
}

function select(options, describedBy) {
  return el(
    "select",
    { "aria-describedby": describedBy },
    options.map(([value, text]) => el("option", { value }, text)),
  );
}

function buildFilters() {
  const typed = debounce(() => applyFilters(), 250);
  const text = (key, placeholder, hint) => {
    const input = el("input", {
      type: key === "q" ? "search" : "text",
      placeholder,
      autocomplete: "off",
      spellcheck: "false",
      "aria-describedby": hint ? "f-" + key + "-hint" : null,
    });
    input.addEventListener("input", () => {
      state[key] = input.value.trim();
      typed();
    });
    return input;
  };
  const choice = (key, options) => {
    const s = select(options);
    s.addEventListener("change", () => {
      state[key] = s.value;
      applyFilters();
    });
    return s;
  };
  const sort = select(SORTS);
  sort.addEventListener("change", () => {
    state.sort = sort.value;
    applyFilters();
  });
  const limit = select(LIMITS.map((n) => [String(n), String(n)]));
  limit.addEventListener("change", () => {
    state.limit = Number(limit.value);
    applyFilters();
  });
  const tiles = el("button", { type: "button", dataset: { view: "tiles" }, onclick: () => setView("tiles") }, "Tiles");
  const table = el("button", { type: "button", dataset: { view: "table" }, onclick: () => setView("table") }, "Table");
  controls.viewButtons = [tiles, table];
  const clear = el(
    "button",
    {
      type: "button",
      class: "quiet",
      onclick: () => {
        for (const k of FILTER_KEYS) state[k] = "";
        applyFilters();
      },
    },
    "Clear filters",
  );
  controls.clear = clear;
  fill(
    form,
    el(
      "div",
      { class: "apps-filter-row" },
      field("q", "Search", text("q", "name, namespace, repository or path", "Press / to search"), "Press / to search"),
      field("namespace", "Namespace", text("namespace", "e.g. tether")),
      field("label", "Labels", text("label", "e.g. env=prod,team!=ops")),
      field("repo", "Repository", text("repo", "https://… or git@…")),
    ),
    el(
      "div",
      { class: "apps-filter-row" },
      field("sync", "Sync", choice("sync", [["", "Any"], ...SYNC.map((s) => [s, s])])),
      field("health", "Health", choice("health", [["", "Any"], ...HEALTH.map((s) => [s, s])])),
      field("drift", "Drift", choice("drift", [["", "Any"], ["true", "Drifted"], ["false", "Not drifted"]])),
      field("sort", "Sort by", sort),
      field("limit", "Per page", limit),
      el("div", { class: "apps-view", role: "group", "aria-label": "View" }, tiles, table),
      clear,
    ),
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    applyFilters();
  });
}

/** Puts the state into the controls (after popstate, or a count clicked). */
function syncControls() {
  for (const k of FILTER_KEYS) {
    const c = controls[k];
    if (c.tagName === "SELECT") {
      // A shared link may hold a value the menu has not (several statuses).
      if (state[k] && ![...c.options].some((o) => o.value === state[k])) c.append(el("option", { value: state[k] }, state[k]));
      c.value = state[k];
    } else if (document.activeElement !== c || c.value.trim() !== state[k]) {
      c.value = state[k];
    }
  }
  if (!SORTS.some(([v]) => v === state.sort)) controls.sort.append(el("option", { value: state.sort }, state.sort));
  controls.sort.value = state.sort;
  if (![...controls.limit.options].some((o) => o.value === String(state.limit))) {
    controls.limit.append(el("option", { value: String(state.limit) }, String(state.limit)));
  }
  controls.limit.value = String(state.limit);
  for (const b of controls.viewButtons) b.setAttribute("aria-pressed", String(b.dataset.view === state.view));
  controls.clear.disabled = FILTER_KEYS.every((k) => !state[k]);
  appsBox.classList.toggle("apps-tiles", state.view === "tiles");
  appsBox.classList.toggle("apps-table", state.view === "table");
}

function setView(view) {
  if (state.view === view) return;
  state.view = view;
  writeUrl();
  syncControls();
  renderAll();
}

// ---- counts (also filters) -----------------------------------------------------

function renderCounts() {
  const group = (kind, label, statuses) => {
    const have = counts[kind] || {};
    const current = state[kind] ? state[kind].split(",") : [];
    const shown = statuses.filter((s) => have[s] || current.includes(s));
    for (const s of Object.keys(have)) if (!shown.includes(s)) shown.push(s);
    return el(
      "div",
      { class: "apps-count-group", role: "group", "aria-label": label },
      el("span", { class: "apps-count-label", "aria-hidden": "true" }, label),
      shown.length === 0 ? el("span", { class: "muted" }, "none") : null,
      shown.map((s) => {
        const pressed = current.length === 1 && current[0] === s;
        return el(
          "button",
          {
            type: "button",
            class: `apps-count ${kind}-${s.toLowerCase()}`,
            dataset: { filter: `${kind}=${s}` },
            "aria-pressed": String(pressed),
            title: pressed ? `Show every ${kind} status` : `Show only ${s} apps`,
            onclick: () => {
              state[kind] = pressed ? "" : s;
              applyFilters();
            },
          },
          el("span", { class: "apps-count-name" }, s),
          " ",
          el("span", { class: "apps-count-n" }, String(have[s] || 0)),
        );
      }),
    );
  };
  fill(
    countsBox,
    el("p", { class: "apps-total", role: "status" }, `${counts.total ?? total} ${(counts.total ?? total) === 1 ? "application" : "applications"}`),
    group("sync", "Sync", SYNC),
    group("health", "Health", HEALTH),
  );
}

// ---- one app -------------------------------------------------------------------

function keyOf(row) {
  return `${row.namespace}/${row.name}`;
}

function appUrl(row) {
  return `/applications/${encodeURIComponent(row.namespace)}/${encodeURIComponent(row.name)}`;
}

/** `github.com/org/repo` from any form of a repository URL. */
function repoLabel(repo) {
  return String(repo || "")
    .replace(/^[a-z+]+:\/\//i, "")
    .replace(/^[^@/]+@/, "")
    .replace(/\.git\/?$/, "")
    .replace(/\/$/, "");
}

function objectLabel(o) {
  return `${o.kind} ${o.namespace ? o.namespace + "/" : ""}${o.name}`;
}

function showValue(v) {
  if (v === undefined || v === null || v === "") return "(none)";
  return v.length > 40 ? v.slice(0, 39) + "…" : v;
}

/** What drifted: count, then the first objects with field, Git → live, and who. */
function driftView(row) {
  if (!row.driftCount) return null;
  const list = (row.drifted || []).slice(0, DRIFT_SHOWN);
  const more = row.driftCount - list.length;
  return el(
    "div",
    { class: "apps-drift" },
    el("span", { class: "badge drift" }, `Drift: ${row.driftCount} ${row.driftCount === 1 ? "object" : "objects"}`),
    el(
      "ul",
      {},
      list.map((o) => {
        const d = o.drift || {};
        const fields = d.fields || [];
        return el(
          "li",
          { dataset: { object: `${o.group || ""}/${o.kind}/${o.namespace || ""}/${o.name}` } },
          el("span", { class: "apps-drift-object" }, objectLabel(o)),
          fields.slice(0, 2).map((f) =>
            el(
              "span",
              { class: "apps-drift-field" },
              " ",
              el("code", {}, f.path),
              " ",
              el("span", { class: "apps-git", title: "In Git" }, showValue(f.git)),
              " → ",
              el("span", { class: "apps-live", title: "Live in the cluster" }, showValue(f.live)),
            ),
          ),
          fields.length > 2 ? el("span", { class: "muted" }, ` and ${fields.length - 2} more fields`) : null,
          d.manager ? [" by ", el("strong", { class: "apps-actor" }, d.manager)] : null,
          d.time ? [" ", timeEl(d.time, "")] : null,
        );
      }),
      more > 0 ? el("li", { class: "muted" }, `and ${more} more`) : null,
    ),
    el(
      "a",
      {
        class: "apps-drift-audit",
        href: `/audit?${new URLSearchParams({ app: keyOf(row), kind: "drift" })}`,
        "aria-label": `Drift history of ${keyOf(row)}`,
      },
      "Drift history",
    ),
  );
}

function revisionView(row) {
  const rev = row.revision;
  return el(
    "div",
    { class: "apps-rev" },
    rev ? el("code", { title: rev }, shortRev(rev)) : el("span", { class: "muted" }, "no revision yet"),
    row.targetRevision ? el("span", { class: "muted" }, ` (${row.targetRevision})`) : null,
    row.commit?.message ? [" ", el("span", { class: "apps-msg" }, row.commit.message)] : null,
    row.commit?.author ? [" ", el("span", { class: "muted apps-author" }, "by " + row.commit.author)] : null,
  );
}

function statusView(row) {
  return el(
    "span",
    { class: "apps-status" },
    badge("sync", row.sync),
    " ",
    badge("health", row.health),
    row.operationPhase === "Running" ? [" ", el("span", { class: "badge sync-outofsync" }, "Syncing")] : null,
  );
}

function checkbox(row) {
  if (!acting) return null;
  const key = keyOf(row);
  return el("input", {
    type: "checkbox",
    class: "apps-select",
    "aria-label": `Select ${key}`,
    checked: selected.has(key),
    dataset: { select: key },
    onchange: (e) => {
      if (e.target.checked) selected.add(key);
      else selected.delete(key);
      renderBulk();
    },
  });
}

function actionButtons(row) {
  if (!acting) return null;
  const key = keyOf(row);
  return el(
    "span",
    { class: "apps-actions" },
    el("button", { type: "button", dataset: { action: "sync" }, "aria-label": `Sync ${key}`, onclick: () => single("sync", row) }, "Sync"),
    el("button", { type: "button", dataset: { action: "refresh" }, "aria-label": `Refresh ${key}`, onclick: () => single("refresh", row) }, "Refresh"),
  );
}

function feedback(row) {
  const key = keyOf(row);
  const note = notes.get(key);
  const box = el("div", { class: "error apps-error", role: "alert", hidden: true, dataset: { errorFor: key } });
  if (note?.error) {
    showError(box, note.doing, note.error);
  }
  return [
    note && !note.error ? el("p", { class: "apps-note", role: "status" }, note.text) : null,
    box,
  ];
}

function tile(row) {
  const key = keyOf(row);
  return el(
    "article",
    { class: `apps-tile apps-health-${String(row.health || "unknown").toLowerCase()}`, dataset: { app: key }, "aria-labelledby": "t-" + key },
    el(
      "header",
      { class: "apps-tile-head" },
      checkbox(row),
      el("h2", { id: "t-" + key }, el("a", { href: appUrl(row) }, row.name)),
      el("span", { class: "muted apps-ns" }, row.namespace),
    ),
    statusView(row),
    row.healthMessage && row.health !== "Healthy" ? el("p", { class: "apps-health-msg" }, row.healthMessage) : null,
    el(
      "dl",
      {},
      el("dt", {}, "Source"),
      el("dd", { class: "apps-src", title: row.repo }, repoLabel(row.repo), row.path ? el("span", { class: "muted" }, " / " + row.path) : null),
      el("dt", {}, "Revision"),
      el("dd", {}, revisionView(row)),
      el("dt", {}, "Last sync"),
      el("dd", {}, timeEl(row.lastSyncedAt)),
    ),
    driftView(row),
    actionButtons(row),
    feedback(row),
  );
}

function tableRow(row) {
  const key = keyOf(row);
  return el(
    "tr",
    { dataset: { app: key } },
    acting ? el("td", {}, checkbox(row)) : null,
    el("th", { scope: "row" }, el("a", { href: appUrl(row) }, row.name), el("div", { class: "muted" }, row.namespace)),
    el("td", {}, badge("sync", row.sync)),
    el("td", {}, badge("health", row.health)),
    el("td", { class: "apps-src", title: row.repo }, repoLabel(row.repo), row.path ? el("div", { class: "muted" }, row.path) : null),
    el("td", {}, revisionView(row)),
    el("td", {}, timeEl(row.lastSyncedAt)),
    el("td", {}, driftView(row) || el("span", { class: "muted" }, "none")),
    acting ? el("td", {}, actionButtons(row), feedback(row)) : null,
  );
}

function render(row) {
  return state.view === "table" ? tableRow(row) : tile(row);
}

/** Rebuilds one app's tile or row in place, keeping the focus where it was. */
function rerender(key) {
  const entry = rows.get(key);
  if (!entry?.node) return;
  const old = entry.node;
  const focused = old.contains(document.activeElement) ? focusPath(document.activeElement) : null;
  entry.node = render(entry.row);
  old.replaceWith(entry.node);
  if (focused) entry.node.querySelector(focused)?.focus();
}

function focusPath(node) {
  if (node.dataset.action) return `[data-action="${node.dataset.action}"]`;
  if (node.dataset.select) return "input.apps-select";
  if (node.tagName === "A") return "a";
  return null;
}

// ---- the page of apps ------------------------------------------------------------

function renderAll() {
  // Keep the keyboard where it was: the same control of the same app, or the sort heading.
  const active = appsBox.contains(document.activeElement) ? document.activeElement : null;
  const focusKey = active?.closest("[data-app]")?.dataset.app;
  const focusSel = active ? (active.classList.contains("apps-sort") ? null : focusPath(active)) : null;
  const focusSort = active?.classList.contains("apps-sort") ? active.textContent.replace(/[▲▼]/g, "").trim() : null;
  renderList();
  if (focusKey && focusSel) rows.get(focusKey)?.node?.querySelector(focusSel)?.focus();
  else if (focusSort) [...appsBox.querySelectorAll(".apps-sort")].find((b) => b.textContent.startsWith(focusSort))?.focus();
}

function renderList() {
  const list = [...rows.values()];
  for (const e of list) e.node = render(e.row);
  if (list.length === 0) {
    const filtered = FILTER_KEYS.some((k) => state[k]);
    fill(
      appsBox,
      el(
        "p",
        { class: "apps-empty" },
        filtered ? "No application matches these filters. " : "No applications yet. Create one with tether app create, or apply an Application manifest.",
        filtered ? el("button", { type: "button", class: "quiet", onclick: () => controls.clear.click() }, "Clear filters") : null,
      ),
    );
  } else if (state.view === "table") {
    fill(
      appsBox,
      el(
        "div",
        { class: "apps-table-scroll", tabindex: "0", role: "region", "aria-label": "Applications table (scrolls sideways)" },
        el(
          "table",
          {},
          el(
            "thead",
            {},
            el(
              "tr",
              {},
              acting ? el("th", { scope: "col" }, selectAllBox()) : null,
              [
                ["Name", "name"],
                ["Sync", "sync"],
                ["Health", "health"],
                ["Source", "repo"],
                ["Revision", null],
                ["Last sync", "lastSync"],
                ["Drift", "drift"],
              ].map(([h, key]) => sortHeader(h, key)),
              acting ? el("th", { scope: "col" }, "Actions") : null,
            ),
          ),
          el("tbody", { id: "apps-body" }, list.map((e) => e.node)),
        ),
      ),
    );
  } else {
    fill(appsBox, acting ? el("p", { class: "apps-select-all" }, el("label", {}, selectAllBox(), " Select every app on this page")) : null, el("div", { class: "apps-grid", id: "apps-body" }, list.map((e) => e.node)));
  }
  renderPager();
  renderBulk();
}

/** A column heading that sorts by its column (server-side): again for the other direction. */
function sortHeader(label, key) {
  if (!key) return el("th", { scope: "col" }, label);
  const current = state.sort.replace(/^-/, "") === key ? (state.sort.startsWith("-") ? "descending" : "ascending") : null;
  // Worst health, newest sync and most drift first on the first click.
  const firstDescending = key === "health" || key === "lastSync" || key === "drift";
  const next = current === "ascending" ? "-" + key : current === "descending" ? key : (firstDescending ? "-" : "") + key;
  return el(
    "th",
    { scope: "col", "aria-sort": current || null },
    el(
      "button",
      {
        type: "button",
        class: "apps-sort",
        title: `Sort by ${label.toLowerCase()}`,
        onclick: () => {
          state.sort = next;
          applyFilters();
          renderAll();
        },
      },
      label,
      current ? el("span", { "aria-hidden": "true" }, current === "ascending" ? " ▲" : " ▼") : null,
    ),
  );
}

function selectAllBox() {
  const keys = [...rows.keys()];
  const all = keys.length > 0 && keys.every((k) => selected.has(k));
  return el("input", {
    type: "checkbox",
    id: "apps-select-all",
    "aria-label": "Select every app on this page",
    checked: all,
    onchange: (e) => {
      for (const k of keys) {
        if (e.target.checked) selected.add(k);
        else selected.delete(k);
      }
      for (const box of appsBox.querySelectorAll("input.apps-select")) box.checked = e.target.checked;
      renderBulk();
    },
  });
}

function renderPager() {
  const first = paging.index * state.limit + (rows.size ? 1 : 0);
  const last = paging.index * state.limit + rows.size;
  fill(
    pager,
    el("span", { class: "muted", role: "status" }, rows.size ? `${first}–${last} of ${total}` : `0 of ${total}`),
    paging.buttons(resubscribe, ["Previous page", "Next page"]),
  );
}

function renderBulk() {
  if (!acting || selected.size === 0) {
    // Nothing selected: no buttons; the last bulk action's result stays until dismissed.
    const last = bulkBox.querySelector(".apps-bulk-result");
    if (last) fill(bulkBox, last);
    else bulkBox.hidden = true;
    const box = document.getElementById("apps-select-all");
    if (box) box.checked = false;
    return;
  }
  const box = document.getElementById("apps-select-all");
  if (box) box.checked = [...rows.keys()].length > 0 && [...rows.keys()].every((k) => selected.has(k));
  const result = bulkBox.querySelector(".apps-bulk-result");
  fill(
    bulkBox,
    el("span", { class: "apps-bulk-count", role: "status" }, `${selected.size} selected`),
    el("button", { type: "button", dataset: { bulk: "sync" }, onclick: () => bulk("sync") }, "Sync selected"),
    el("button", { type: "button", dataset: { bulk: "refresh" }, onclick: () => bulk("refresh") }, "Refresh selected"),
    el(
      "button",
      {
        type: "button",
        class: "quiet",
        onclick: () => {
          selected.clear();
          for (const b of appsBox.querySelectorAll("input.apps-select")) b.checked = false;
          bulkBox.querySelector(".apps-bulk-result")?.remove();
          renderBulk();
        },
      },
      "Clear selection",
    ),
    result,
  );
  bulkBox.hidden = false;
}

// ---- actions -----------------------------------------------------------------------

const ACTIONS = {
  sync: {
    verb: "Sync",
    doing: "Sync",
    done: "Sync requested",
    what: (n) =>
      n.startsWith("these ")
        ? `tether will apply ${n} from Git, each at the revision it follows, creating and updating objects so that the cluster matches Git (and pruning as each app's sync policy says). Apps already in sync stay as they are.`
        : `tether will apply ${n} from Git at the revision it follows, creating and updating objects so that the cluster matches Git (and pruning as its sync policy says). If it is already in sync, nothing changes.`,
    run: (key) => {
      const [ns, name] = key.split("/");
      return api(`/api/v1/applications/${encodeURIComponent(ns)}/${encodeURIComponent(name)}/sync`, { method: "POST", body: {} });
    },
  },
  refresh: {
    verb: "Refresh",
    doing: "Refresh",
    done: "Refresh requested",
    what: (n) =>
      `tether will read the repository again and compare ${n} with the cluster now, instead of at the next poll. Nothing in the cluster changes unless an app syncs automatically.`,
    run: (key) => {
      const [ns, name] = key.split("/");
      return api(`/api/v1/applications/${encodeURIComponent(ns)}/${encodeURIComponent(name)}`, { query: { refresh: "normal" } });
    },
  },
};

function setNote(key, note) {
  notes.set(key, note);
  if (!note.error) {
    setTimeout(() => {
      if (notes.get(key) === note) {
        notes.delete(key);
        rerender(key);
      }
    }, 8000);
  }
  rerender(key);
}

async function perform(action, key) {
  const a = ACTIONS[action];
  try {
    await a.run(key);
    setNote(key, { text: a.done });
    return null;
  } catch (e) {
    setNote(key, { doing: `${a.doing} of ${key}`, error: e });
    return e;
  }
}

async function single(action, row) {
  const a = ACTIONS[action];
  const key = keyOf(row);
  const ok = await confirmAction({
    title: `${a.verb} ${key}?`,
    body: a.what(key),
    ok: a.verb,
  });
  if (ok) await perform(action, key);
}

async function bulk(action) {
  const a = ACTIONS[action];
  const keys = [...selected];
  const n = keys.length;
  const ok = await confirmAction({
    title: `${a.verb} ${n} ${n === 1 ? "application" : "applications"}?`,
    body: [
      el("p", {}, a.what(n === 1 ? keys[0] : `these ${n} apps`)),
      el("ul", { class: "apps-confirm-list" }, keys.slice(0, 10).map((k) => el("li", {}, k)), n > 10 ? el("li", {}, `and ${n - 10} more`) : null),
    ],
    ok: `${a.verb} ${n}`,
  });
  if (!ok) return;
  // A few at a time: the browser has six connections to the server, one of them the stream.
  const failed = [];
  const queue = [...keys];
  const worker = async () => {
    while (queue.length) {
      const key = queue.shift();
      const e = await perform(action, key);
      if (e) failed.push([key, e]);
    }
  };
  await Promise.all([worker(), worker(), worker()]);
  const result = el(
    "div",
    { class: "apps-bulk-result" + (failed.length ? " error" : ""), role: failed.length ? "alert" : "status" },
    failed.length
      ? [
          el("strong", {}, `${a.verb} failed for ${failed.length} of ${n}: `),
          failed.map(([k, e], i) => [i ? "; " : "", el("code", {}, k), ": " + e.message]),
          rows.size ? el("span", { class: "hint" }, " Each tile says what to do.") : null,
        ]
      : `${a.done} for ${n} ${n === 1 ? "application" : "applications"}.`,
    " ",
    el(
      "button",
      {
        type: "button",
        class: "quiet",
        onclick: () => {
          result.remove();
          renderBulk();
        },
      },
      "Dismiss",
    ),
  );
  bulkBox.querySelector(".apps-bulk-result")?.remove();
  bulkBox.append(result);
  bulkBox.hidden = false;
}

// ---- the stream ----------------------------------------------------------------------

function onSnapshot(data) {
  rows.clear();
  for (const row of data.items || []) rows.set(keyOf(row), { row, node: null });
  counts = data.counts || counts;
  total = data.metadata?.total ?? counts.total ?? rows.size;
  paging.next = data.metadata?.continue || null;
  renderCounts();
  renderAll();
  main.setAttribute("aria-busy", "false");
  if (main.dataset.ready === "true") markUpdate();
  markReady();
}

function onChanges(data) {
  let structural = false;
  for (const row of data.upserted || []) {
    const key = keyOf(row);
    const entry = rows.get(key);
    if (entry) {
      entry.row = row;
      rerender(key);
    } else if (!paging.next && rows.size < state.limit) {
      // It entered the filter and this last page has room: show it.
      rows.set(key, { row, node: null });
      structural = true;
    }
    // Otherwise it sits on another page: the counts below tell of it.
  }
  for (const key of data.removed || []) {
    const entry = rows.get(key);
    if (!entry) continue;
    rows.delete(key);
    if (entry.node && !structural) entry.node.remove();
    structural = structural || rows.size === 0;
  }
  if (data.counts) {
    counts = data.counts;
    total = counts.total ?? total;
    renderCounts();
  }
  if (structural) renderAll();
  else renderPager();
  markUpdate();
}

// ---- start -----------------------------------------------------------------------------

function onKey(e) {
  if (e.key !== "/" || e.ctrlKey || e.metaKey || e.altKey) return;
  const t = e.target;
  if (t instanceof HTMLInputElement || t instanceof HTMLTextAreaElement || t instanceof HTMLSelectElement || t?.isContentEditable) return;
  if (document.getElementById("confirm").open) return;
  e.preventDefault();
  controls.q.focus();
  controls.q.select();
}

async function start() {
  main.setAttribute("aria-busy", "true");
  buildFilters();
  syncControls();
  document.addEventListener("keydown", onKey);
  window.addEventListener("popstate", () => {
    state = readState();
    paging.reset();
        syncControls();
    resubscribe();
    validate();
  });
  acting = await canAct();
  if (acting) bulkBox.classList.add("apps-bulk");
  stream = new Stream(listQuery(), { snapshot: onSnapshot, changes: onChanges });
  validate();
}

start();
