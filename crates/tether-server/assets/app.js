// The application page (/applications/{ns}/{name}): the app's status, the
// tree of its objects with health, sync and drift on each, the selected
// object's desired and live manifests and their diff, who drifted what, and
// the actions (sync, refresh, rollback, delete). Everything comes from the
// public API and from ONE live stream (`app=NS/NAME`); tabs, the selected
// object and the logs (a fetch stream) never open another stream.
//
// State that a user would share lives in the URL: `tab`, `view`
// (tree|list), `node` (GROUP/KIND/NS/NAME) and `pod`/`container` for logs.
import {
  api,
  ApiFailure,
  Stream,
  el,
  fill,
  badge,
  shortRev,
  timeEl,
  params,
  setParams,
  confirmAction,
  showError,
  clearError,
  markReady,
  markUpdate,
  canAct,
  queryString,
} from "./common.js";

const main = document.getElementById("main");
const NS = main.dataset.namespace;
const NAME = main.dataset.name;
const KEY = `${NS}/${NAME}`;
const BASE = `/api/v1/applications/${encodeURIComponent(NS)}/${encodeURIComponent(NAME)}`;

const $ = (id) => document.getElementById(id);
const errorBox = $("error");
const actionError = $("action-error");
const actionResult = $("action-result");

const TABS = [
  ["objects", "Objects"],
  ["history", "History"],
  ["events", "Events"],
  ["audit", "Audit"],
  ["logs", "Logs"],
  ["notifiers", "Notifiers"],
];

const state = {
  app: null, // the Application, as the stream last sent it
  seen: false, // whether the app existed at some point on this page
  tree: null, // {nodes}
  treeError: "",
  byId: new Map(), // node id -> node
  mayAct: false,
  checked: new Set(), // node ids ticked for a selective sync
  managed: null, // GET …/managed-resources, or a promise of it
  managedStale: true,
  historyKey: "",
};

/** The node's id, as in `data-node`: GROUP/KIND/NS/NAME, empty parts kept. */
const nodeId = (n) => `${n.group || ""}/${n.kind}/${n.namespace || ""}/${n.name}`;
const label = (n) => `${n.kind} ${n.namespace ? n.namespace + "/" : ""}${n.name}`;

function tab() {
  const t = params().get("tab");
  return TABS.some(([k]) => k === t) ? t : "objects";
}
const view = () => (params().get("view") === "list" ? "list" : "tree");
const selected = () => params().get("node") || "";

// ---- the summary -------------------------------------------------------------

/** The commit of the revision shown: its newest history entry carries it. */
function commitOf(status, revision) {
  const h = status.history || [];
  for (let i = h.length - 1; i >= 0; i--) if (h[i].revision === revision && h[i].commit) return h[i].commit;
  return null;
}

function item(term, ...value) {
  return el("div", { class: "app-fact" }, el("dt", {}, term), el("dd", {}, ...value));
}

/** Re-renders a section only when what it shows changed (focus and open details stay put). */
const sectionKeys = new Map();
function changed(section, ...inputs) {
  const key = JSON.stringify(inputs);
  if (sectionKeys.get(section) === key) return false;
  sectionKeys.set(section, key);
  return true;
}

function renderSummary() {
  const app = state.app;
  const s = app.status || {};
  if (!changed("summary", app.spec, s.sync, s.health, s.operationState, s.history?.length, s.rollback, s.reconciledAt, (state.tree?.nodes || []).filter((n) => n.drift).length)) return;
  const src = app.spec?.source || {};
  const revision = s.sync?.revision;
  const commit = commitOf(s, revision);
  const op = s.operationState;
  const auto = app.spec?.syncPolicy?.automated;
  const drifted = (state.tree?.nodes || []).filter((n) => n.drift).length;
  fill(
    $("summary"),
    el(
      "dl",
      { class: "app-facts" },
      item("Sync", badge("sync", s.sync?.status)),
      item("Health", badge("health", s.health?.status), s.health?.message ? el("span", { class: "muted" }, " " + s.health.message) : null),
      item("Drift", drifted ? el("span", { class: "badge drift" }, `${drifted} drifted`) : el("span", { class: "muted" }, "none")),
      item(
        "Revision",
        revision ? el("code", { title: revision }, shortRev(revision)) : el("span", { class: "muted" }, "not fetched yet"),
        commit ? [" ", el("span", { class: "app-commit-msg" }, (commit.message || "").split("\n")[0]), el("span", { class: "muted" }, ` by ${commit.author}, `), timeEl(commit.time)] : null,
        s.rollback ? el("span", { class: "badge health-suspended", title: `held since ${s.rollback.since}` }, `rolled back, held at ${shortRev(s.rollback.revision)}`) : null,
      ),
      item("Source", el("span", { class: "app-repo" }, src.repoURL || ""), src.path ? [" ", el("code", {}, src.path)] : null, " @ ", el("code", {}, src.revision || "default branch")),
      item("Destination", el("code", {}, app.spec?.destination?.namespace || "(as in the manifests)"), app.spec?.destination?.cluster ? ` on ${app.spec.destination.cluster}` : ""),
      item("Policy", auto ? `automated${auto.prune ? ", prune" : ""}${auto.selfHeal ? ", self-heal" : ""}` : "manual sync", app.spec?.suspend ? " (suspended)" : ""),
      item("Last sync", op ? [badge("phase", op.phase), " ", timeEl(op.finishedAt || op.startedAt), op.initiator ? el("span", { class: "muted" }, ` by ${op.initiator}`) : null, optionsEl(op.options)] : el("span", { class: "muted" }, "never")),
      item("Checked", timeEl(s.reconciledAt)),
    ),
    op && op.message && op.phase !== "Succeeded" ? el("p", { class: "app-op-message" }, el("strong", {}, `Operation ${op.phase}: `), op.message) : null,
  );
}

/** The last error, with the file and line when the commit's content is at fault. */
function renderProblem() {
  const s = state.app.status || {};
  const box = $("problem");
  const stalled = (s.conditions || []).find((c) => c.type === "Stalled" && c.status === "True");
  const e = s.error || (stalled && fromMessage(stalled));
  if (!changed("problem", e, stalled)) return;
  if (!e && !stalled) {
    box.hidden = true;
    box.replaceChildren();
    return;
  }
  const where = e && e.file ? `${e.file}${e.line ? `:${e.line}${e.column ? `:${e.column}` : ""}` : ""}` : "";
  fill(
    box,
    el("h2", {}, e ? `${cap(e.stage || "reconcile")} failed${e.reason ? ` (${e.reason})` : ""}` : `Stalled${stalled.reason ? ` (${stalled.reason})` : ""}`),
    where
      ? el(
          "p",
          { class: "app-error-where" },
          "In ",
          el("code", { class: "app-error-file", dataset: { file: e.file, line: e.line ?? "" } }, where),
          e.line ? el("span", { class: "muted" }, ` (line ${e.line}${e.column ? `, column ${e.column}` : ""})`) : null,
          e.revision ? [" at commit ", el("code", { title: e.revision }, shortRev(e.revision))] : null,
        )
      : null,
    el("pre", { class: "app-error-message" }, e ? e.message : stalled.message),
    e?.since ? el("p", { class: "muted" }, "Failing since ", timeEl(e.since), ". Fix it in Git; the next commit is picked up without any action here.") : el("p", { class: "muted" }, "Fix it in Git, or refresh once the cause is gone."),
  );
  box.hidden = false;
}

/**
 * An agent without `status.error` says where in the Stalled condition's
 * message ("invalid YAML in PATH at line L, column C: …"): read it from there.
 */
function fromMessage(c) {
  const m = /\bin (\S+?) at line (\d+)(?:, column (\d+))?/.exec(c.message || "");
  const rev = /^([0-9a-f]{7,40}) at /.exec(c.message || "");
  return m
    ? { stage: c.reason === "RenderFailed" ? "render" : "", reason: c.reason, message: c.message, file: m[1], line: Number(m[2]), column: m[3] ? Number(m[3]) : null, revision: rev?.[1], since: c.lastTransitionTime }
    : null;
}

const cap = (s) => s.charAt(0).toUpperCase() + s.slice(1);

function renderConditions() {
  const conds = state.app.status?.conditions || [];
  const box = $("conditions");
  if (!changed("conditions", conds)) return;
  // A reader who opened or closed the details keeps it that way.
  const was = box.querySelector("details");
  if (!conds.length) {
    box.replaceChildren();
    return;
  }
  fill(
    box,
    el(
      "details",
      { class: "app-conds", open: was ? was.open : conds.some((c) => (c.type === "Ready" && c.status !== "True") || (c.type === "Stalled" && c.status === "True")) },
      el("summary", {}, "Conditions: ", conds.map((c) => el("span", { class: `app-cond app-cond-${c.status.toLowerCase()}` }, `${c.type}=${c.status}`))),
      el(
        "table",
        { class: "app-table" },
        el("thead", {}, el("tr", {}, ["Type", "Status", "Reason", "Message", "Since"].map((h) => el("th", { scope: "col" }, h)))),
        el(
          "tbody",
          {},
          conds.map((c) => el("tr", {}, el("td", {}, c.type), el("td", {}, c.status), el("td", {}, c.reason), el("td", { class: "app-wrap" }, c.message), el("td", {}, timeEl(c.lastTransitionTime, "")))),
        ),
      ),
    ),
  );
}

// ---- actions ------------------------------------------------------------------

let actionsBuilt = false;
function renderActions() {
  const box = $("actions");
  if (!state.mayAct || !state.app) {
    box.replaceChildren();
    actionsBuilt = false;
    return;
  }
  if (actionsBuilt) return;
  actionsBuilt = true;
  fill(
    box,
    el("button", { type: "button", class: "primary", dataset: { action: "sync" }, onclick: () => doSync() }, "Sync…"),
    el("button", { type: "button", dataset: { action: "refresh" }, onclick: doRefresh }, "Refresh…"),
    el("button", { type: "button", dataset: { action: "rollback" }, onclick: () => openTab("history", true) }, "Rollback…"),
    el("button", { type: "button", class: "danger", dataset: { action: "delete" }, onclick: doDelete }, "Delete…"),
  );
}

function check(id, text, checked, hint) {
  return el("p", { class: "app-option" }, el("label", {}, el("input", { type: "checkbox", id, checked }), " ", text), hint ? el("span", { class: "hint" }, " " + hint) : null);
}

/** Ask to sync (the whole app, or the ticked objects), with prune and dry run. */
async function doSync(onlySelected = state.checked.size > 0) {
  const policyPrune = !!state.app.spec?.syncPolicy?.automated?.prune;
  const picked = [...state.checked].map((id) => state.byId.get(id)).filter(Boolean);
  const ok = await confirmAction({
    title: `Sync ${NAME}`,
    body: [
      el("p", { id: "sync-what" }, `Fetches ${state.app.spec?.source?.repoURL || "the repository"} and applies what Git says to the cluster.`),
      picked.length
        ? check("sync-selected", `Only the ${picked.length} selected object${picked.length > 1 ? "s" : ""}: ${picked.map(label).join(", ")}`, onlySelected)
        : null,
      check("sync-prune", "Prune: delete objects that are no longer in Git", policyPrune, policyPrune ? "(the app's policy prunes)" : "(the app's policy keeps them)"),
      check("sync-dry-run", "Dry run: show what would change, apply nothing", false),
    ],
    ok: "Sync",
  });
  if (!ok) return;
  const only = picked.length && $("sync-selected")?.checked;
  // Prune is sent only when it differs from the policy, so a plain sync stays a plain sync.
  const body = { dryRun: $("sync-dry-run").checked };
  if ($("sync-prune").checked !== policyPrune) body.prune = $("sync-prune").checked;
  if (only) body.resources = picked.map((n) => ({ group: n.group || "", kind: n.kind, namespace: n.namespace || "", name: n.name }));
  await act(body.dryRun ? "Dry run" : "Sync", async () => {
    const r = await api(`${BASE}/sync`, { method: "POST", body });
    if (body.dryRun) showDryRun(r);
    else note(`Sync requested${only ? ` for ${picked.length} object(s)` : ""}: the status above follows it live.`);
  });
}

async function doRefresh() {
  const ok = await confirmAction({
    title: `Refresh ${NAME}`,
    body: [
      el("p", {}, "Fetches from Git now and compares with the cluster; with automated sync, applies any change."),
      check("refresh-hard", "Hard: render again even if the result is cached", false),
    ],
    ok: "Refresh",
  });
  if (!ok) return;
  const hard = $("refresh-hard").checked;
  await act(hard ? "Hard refresh" : "Refresh", async () => {
    await api(BASE, { query: { refresh: hard ? "hard" : "normal" } });
    note(`${hard ? "Hard refresh" : "Refresh"} requested.`);
  });
}

async function doRollback(entry) {
  const c = entry.commit;
  const ok = await confirmAction({
    title: `Roll back ${NAME}`,
    body: [
      el("p", {}, "Applies commit ", el("code", {}, shortRev(entry.revision)), c ? ` (“${c.message.split("\n")[0]}” by ${c.author})` : "", ` from history entry ${entry.id}, and holds the app there.`),
      el("p", {}, "It follows Git again once Git moves past today's commit, or on the next Sync."),
    ],
    ok: `Roll back to ${shortRev(entry.revision)}`,
    danger: true,
  });
  if (!ok) return;
  const where = document.querySelector(`[data-history="${entry.id}"] .app-row-error`);
  await act(
    "Rollback",
    async () => {
      await api(`${BASE}/rollback`, { method: "POST", body: { id: entry.id } });
      note(`Rollback to ${shortRev(entry.revision)} requested.`);
    },
    where,
  );
}

async function doDelete() {
  const count = (state.tree?.nodes || []).filter((n) => n.managed).length;
  const ok = await confirmAction({
    title: `Delete ${NAME}`,
    body: [
      el("p", { id: "delete-what" }, `Deletes the Application ${KEY} and the ${count} object${count === 1 ? "" : "s"} it deployed.`),
      el("p", {}, el("label", {}, el("input", {
        type: "checkbox",
        id: "delete-cascade",
        checked: true,
        onchange: (e) => {
          $("delete-what").textContent = e.target.checked
            ? `Deletes the Application ${KEY} and the ${count} object${count === 1 ? "" : "s"} it deployed.`
            : `Deletes the Application ${KEY} only: the ${count} object${count === 1 ? "" : "s"} it deployed stay in the cluster, no longer managed.`;
        },
      }), " Delete its objects too (cascade)")),
      el("p", { class: "hint" }, "This cannot be undone from here; the Application can be created again from its manifest."),
    ],
    ok: "Delete",
    danger: true,
  });
  if (!ok) return;
  const cascade = $("delete-cascade").checked;
  await act("Delete", async () => {
    await api(BASE, { method: "DELETE", query: { cascade: String(cascade) } });
    location.assign("/");
  });
}

/** Runs an action, showing its failure where it was taken (the API's message and what to do). */
async function act(doing, fn, where = actionError) {
  clearError(actionError);
  if (where && where !== actionError) clearError(where);
  try {
    await fn();
  } catch (e) {
    if (e.name === "AbortError") return;
    const target = where || actionError;
    showError(target, doing, e);
    if (e.status === 501) target.append(el("span", { class: "hint" }, " This server does not support that option yet: sync the whole app, or roll back from History."));
    if (e.status === 422) target.append(el("span", { class: "hint" }, " Fix the manifests in Git; the error above says where."));
  }
}

function note(text) {
  fill(actionResult, el("p", { role: "status" }, text), closeButton());
  actionResult.hidden = false;
}

function closeButton() {
  return el("button", { type: "button", class: "quiet app-close", "aria-label": "Dismiss", onclick: () => { actionResult.hidden = true; actionResult.replaceChildren(); } }, "×");
}

function showDryRun(r) {
  fill(
    actionResult,
    el("h2", {}, "Dry run at ", el("code", { title: r.revision }, shortRev(r.revision)), ": ", r.inSync ? "nothing would change" : r.summary),
    closeButton(),
    r.changes.length
      ? el(
          "ul",
          { class: "app-dry-run" },
          r.changes.map((c) =>
            el(
              "li",
              { dataset: { node: nodeId(c) } },
              el("details", {}, el("summary", {}, el("strong", {}, c.action), " ", label(c), c.reason ? el("span", { class: "muted" }, ` (${c.reason})`) : null), c.diff ? diffEl(c.diff) : el("p", { class: "muted" }, "no diff")),
            ),
          ),
        )
      : null,
  );
  actionResult.hidden = false;
}

// ---- the tabs -------------------------------------------------------------------

const panels = {};
let tabButtons = [];

function buildTabs() {
  tabButtons = TABS.map(([k, text]) =>
    el("button", { type: "button", role: "tab", id: `tab-${k}`, "aria-controls": `panel-${k}`, dataset: { tab: k }, onclick: () => openTab(k, true), onkeydown: tabKeys }, text),
  );
  fill($("tabs"), tabButtons);
  for (const [k] of TABS) {
    panels[k] = el("section", { id: `panel-${k}`, role: "tabpanel", "aria-labelledby": `tab-${k}`, class: `app-panel app-panel-${k}`, hidden: true });
  }
  fill($("panel"), Object.values(panels));
  buildObjectsPanel();
}

function tabKeys(e) {
  const i = tabButtons.indexOf(e.currentTarget);
  let j = null;
  if (e.key === "ArrowRight") j = (i + 1) % tabButtons.length;
  else if (e.key === "ArrowLeft") j = (i - 1 + tabButtons.length) % tabButtons.length;
  else if (e.key === "Home") j = 0;
  else if (e.key === "End") j = tabButtons.length - 1;
  if (j === null) return;
  e.preventDefault();
  openTab(tabButtons[j].dataset.tab, true);
  tabButtons[j].focus();
}

let shownTab = null;
function openTab(k, push = false) {
  if (push) setParams({ tab: k === "objects" ? null : k }, { push: true });
  if (shownTab !== k) stopLogs();
  shownTab = k;
  for (const b of tabButtons) {
    const on = b.dataset.tab === k;
    b.setAttribute("aria-selected", on ? "true" : "false");
    b.tabIndex = on ? 0 : -1;
  }
  for (const [name, p] of Object.entries(panels)) p.hidden = name !== k;
  renderTab();
}

function renderTab() {
  if (!state.app) return;
  switch (shownTab) {
    case "objects":
      renderObjects();
      break;
    case "history":
      renderHistory();
      break;
    case "events":
      loadEvents();
      break;
    case "audit":
      loadAudit();
      break;
    case "logs":
      renderLogs();
      break;
    case "notifiers":
      loadNotifiers();
      break;
  }
}

// ---- objects: the tree and the list --------------------------------------------------

let treeEl, objToolbar, detailEl, treeNote;

function buildObjectsPanel() {
  objToolbar = el("div", { class: "app-obj-toolbar" });
  treeNote = el("p", { class: "muted", hidden: true });
  treeEl = el("ul", { class: "app-tree", role: "tree", "aria-label": "Objects", onkeydown: treeKeys, onclick: treeClick });
  detailEl = el("section", { class: "app-object", "aria-label": "Selected object", "aria-live": "off" });
  fill(panels.objects, objToolbar, el("div", { class: "app-objects" }, el("div", { class: "app-tree-wrap" }, treeNote, treeEl), detailEl));
}

function renderToolbar() {
  const v = view();
  const n = state.checked.size;
  if (!changed("toolbar", v, n, state.mayAct, state.tree?.nodes?.length ?? 0)) return;
  fill(
    objToolbar,
    el(
      "div",
      { class: "app-view-toggle", role: "group", "aria-label": "Show objects as" },
      el("button", { type: "button", "aria-pressed": String(v === "tree"), onclick: () => setView("tree") }, "Tree"),
      el("button", { type: "button", "aria-pressed": String(v === "list"), onclick: () => setView("list") }, "List"),
    ),
    el("span", { class: "muted app-count" }, `${state.tree?.nodes?.length ?? 0} objects`),
    el("span", { class: "muted app-keys" }, state.mayAct ? "↑↓ move, Enter opens, Space ticks for a sync" : "↑↓ move, Enter opens"),
    state.mayAct && n
      ? [
          el("span", {}, `${n} selected`),
          el("button", { type: "button", dataset: { action: "sync", scope: "selected" }, onclick: () => doSync(true) }, "Sync selected…"),
          el("button", { type: "button", class: "quiet", onclick: () => { state.checked.clear(); rows.clear(); renderObjects(); } }, "Clear selection"),
        ]
      : null,
  );
}

function setView(v) {
  setParams({ view: v === "tree" ? null : v });
  rows.clear();
  renderObjects();
}

/** The nodes in display order with their depth: owners before what they own. */
function ordered() {
  const nodes = state.tree?.nodes || [];
  if (view() === "list") {
    return [...nodes]
      .sort((a, b) => a.kind.localeCompare(b.kind) || (a.namespace || "").localeCompare(b.namespace || "") || a.name.localeCompare(b.name))
      .map((n) => ({ id: nodeId(n), node: n, level: 1 }));
  }
  const ids = new Set(nodes.map(nodeId));
  const kids = new Map();
  const roots = [];
  for (const n of nodes) {
    const parent = (n.parentRefs || []).map(nodeId).find((p) => ids.has(p));
    if (parent) {
      if (!kids.has(parent)) kids.set(parent, []);
      kids.get(parent).push(n);
    } else roots.push(n);
  }
  const out = [];
  const seen = new Set();
  const walk = (n, level) => {
    const id = nodeId(n);
    if (seen.has(id)) return;
    seen.add(id);
    out.push({ id, node: n, level });
    const children = (kids.get(id) || []).sort((a, b) => a.kind.localeCompare(b.kind) || a.name.localeCompare(b.name));
    for (const c of children) walk(c, Math.min(level + 1, 8));
  };
  for (const r of roots) walk(r, 1);
  return out;
}

function driftText(d) {
  const fields = (d.fields || []).map((f) => f.path).join(", ");
  return `drifted${fields ? ": " + fields : ""}${d.manager ? " by " + d.manager : ""}`;
}

/** One row of the tree; everything it shows comes from `node` (so its JSON keys updates). */
function nodeEl({ id, node, level }, sel) {
  const n = node;
  const li = el(
    "li",
    { role: "treeitem", class: "app-node", dataset: { node: id, kind: n.kind }, "aria-level": level, "aria-selected": id === sel ? "true" : "false", tabindex: "-1" },
    state.mayAct && n.managed
      ? el("input", { type: "checkbox", class: "app-node-check", tabindex: "-1", checked: state.checked.has(id), "aria-label": `Select ${label(n)} for a sync` })
      : el("span", { class: "app-node-check" }),
    el("span", { class: "app-node-kind" }, n.kind),
    el("span", { class: "app-node-name" }, n.name),
    view() === "list" && n.namespace ? el("span", { class: "muted app-node-ns" }, n.namespace) : null,
    el(
      "span",
      { class: "app-node-badges" },
      n.health ? badge("health", n.health.status) : null,
      n.sync ? badge("sync", n.sync) : null,
      n.drift ? el("span", { class: "badge drift", dataset: { drift: "true" }, title: driftText(n.drift) }, "Drifted") : null,
      n.requiresPruning ? el("span", { class: "badge sync-outofsync" }, "Requires pruning") : null,
      n.missing ? el("span", { class: "badge health-missing" }, "Not in cluster") : null,
      !n.managed ? el("span", { class: "muted app-node-owned" }, "owned") : null,
    ),
  );
  return li;
}

// id -> {key, el}: what is on the page, so an update re-renders only the nodes whose data changed.
const rows = new Map();
let focusId = "";

function renderObjects() {
  renderToolbar();
  if (state.treeError) {
    treeNote.textContent = `The cluster could not be read (${state.treeError}): the objects below are as last read, and update once it can be.`;
    treeNote.hidden = false;
  } else if (!(state.tree?.nodes || []).length) {
    treeNote.textContent = "No objects yet: the app has not been synced, or Git declares none.";
    treeNote.hidden = false;
  } else treeNote.hidden = true;
  treeEl.setAttribute("aria-label", view() === "list" ? "Objects (list)" : "Objects (tree)");
  const list = ordered();
  const sel = selected();
  if (!list.some((x) => x.id === focusId)) focusId = list.some((x) => x.id === sel) ? sel : list[0]?.id || "";
  const els = [];
  const seen = new Set();
  const hadFocus = treeEl.contains(document.activeElement) ? document.activeElement.dataset?.node : null;
  for (const x of list) {
    const key = JSON.stringify(x.node) + "|" + x.level + "|" + state.mayAct;
    let r = rows.get(x.id);
    if (!r || r.key !== key) {
      const fresh = nodeEl(x, sel);
      if (r && r.el.parentNode) r.el.replaceWith(fresh);
      r = { key, el: fresh };
      rows.set(x.id, r);
    }
    r.el.tabIndex = x.id === focusId ? 0 : -1;
    seen.add(x.id);
    els.push(r.el);
  }
  for (const [id, r] of rows) {
    if (!seen.has(id)) {
      r.el.remove();
      rows.delete(id);
    }
  }
  let same = treeEl.children.length === els.length;
  if (same) {
    let i = 0;
    for (const c of treeEl.children) if (c !== els[i++]) { same = false; break; }
  }
  if (!same) {
    const frag = document.createDocumentFragment();
    frag.append(...els);
    treeEl.replaceChildren(frag);
  }
  if (hadFocus && document.activeElement !== rows.get(hadFocus)?.el) rows.get(hadFocus)?.el.focus();
  renderDetail();
}

function select(id, { push = true } = {}) {
  const before = selected();
  if (before === id) return;
  setParams({ node: id || null }, { push });
  rows.get(before)?.el.setAttribute("aria-selected", "false");
  rows.get(id)?.el.setAttribute("aria-selected", "true");
  renderDetail();
}

function treeClick(e) {
  const li = e.target.closest("li[data-node]");
  if (!li) return;
  const id = li.dataset.node;
  if (e.target.matches("input.app-node-check")) {
    toggleChecked(id, e.target.checked);
    return;
  }
  moveFocus(id);
  select(id);
}

function toggleChecked(id, on) {
  if (on) state.checked.add(id);
  else state.checked.delete(id);
  const box = rows.get(id)?.el.querySelector("input.app-node-check");
  if (box) box.checked = on;
  renderToolbar();
}

function moveFocus(id) {
  const r = rows.get(id);
  if (!r) return;
  rows.get(focusId)?.el.setAttribute("tabindex", "-1");
  focusId = id;
  r.el.tabIndex = 0;
  r.el.focus();
}

function treeKeys(e) {
  const li = e.target.closest("li[data-node]");
  if (!li) return;
  const items = [...treeEl.children];
  const i = items.indexOf(li);
  let next = null;
  switch (e.key) {
    case "ArrowDown":
      next = items[i + 1];
      break;
    case "ArrowUp":
      next = items[i - 1];
      break;
    case "Home":
      next = items[0];
      break;
    case "End":
      next = items[items.length - 1];
      break;
    case "ArrowLeft": {
      // To the owner.
      const lvl = Number(li.getAttribute("aria-level"));
      for (let j = i - 1; j >= 0; j--) if (Number(items[j].getAttribute("aria-level")) < lvl) { next = items[j]; break; }
      break;
    }
    case "ArrowRight":
      if (items[i + 1] && Number(items[i + 1].getAttribute("aria-level")) > Number(li.getAttribute("aria-level"))) next = items[i + 1];
      break;
    case "Enter":
      e.preventDefault();
      select(li.dataset.node);
      return;
    case " ": {
      e.preventDefault();
      const box = li.querySelector("input.app-node-check");
      if (box) toggleChecked(li.dataset.node, !box.checked);
      else select(li.dataset.node);
      return;
    }
    default:
      return;
  }
  e.preventDefault();
  if (next) moveFocus(next.dataset.node);
}

// ---- the selected object ------------------------------------------------------------

let detailKey = "";
let managedSeq = 0;

function renderDetail() {
  const id = selected();
  const n = state.byId.get(id);
  if (!id) {
    detailKey = "";
    fill(detailEl, el("p", { class: "muted app-object-hint" }, "Select an object (click it, or focus it and press Enter) to see its manifests, diff and drift."));
    return;
  }
  if (!n) {
    detailKey = "";
    fill(detailEl, el("p", { class: "muted" }, `${id} is not one of this app's objects now.`));
    return;
  }
  // A sync (a self-heal among them) also renews the panel: its drift history may have news.
  const op = state.app.status?.operationState;
  const key = id + JSON.stringify(n) + (state.app.status?.history?.length ?? 0) + (op ? op.startedAt + op.phase : "");
  if (key === detailKey) return;
  detailKey = key;
  const manifests = el("div", { class: "app-manifests" }, el("p", { class: "muted" }, "Loading the manifests…"));
  const history = el("div", { class: "app-drift-history" });
  fill(
    detailEl,
    el("h2", {}, el("span", { class: "app-node-kind" }, n.kind), " ", n.name, n.namespace ? el("span", { class: "muted" }, ` in ${n.namespace}`) : null),
    el(
      "p",
      { class: "app-object-badges" },
      n.health ? badge("health", n.health.status) : null,
      " ",
      n.sync ? badge("sync", n.sync) : null,
      n.health?.message ? el("span", { class: "muted" }, " " + n.health.message) : null,
      !n.managed && n.parentRefs?.length ? el("span", { class: "muted" }, ` Made by ${n.parentRefs.map(label).join(", ")}; not in Git.`) : null,
    ),
    n.kind === "Pod" && !n.group ? el("p", {}, el("a", { href: "?" + withParams({ tab: "logs", pod: n.name }).toString(), onclick: (e) => { e.preventDefault(); setParams({ pod: n.name }); openTab("logs", true); } }, `Logs of ${n.name}`)) : null,
    driftPanel(n),
    n.managed ? manifests : null,
    n.managed ? history : null,
  );
  if (n.managed) {
    loadManifests(n, manifests);
    loadDriftHistory(n, history);
  }
}

function withParams(updates) {
  const p = params();
  for (const [k, v] of Object.entries(updates)) v ? p.set(k, v) : p.delete(k);
  return p;
}

/** The last drift, and the sync that put it back (from the API's `healedDrift`). */
function healedEl(n, h) {
  const fields = (h.fields || []).map((f) => `${f.path}: ${shown(n, f.path, f.git)} → ${shown(n, f.path, f.live)}`).join("; ");
  return el(
    "section",
    { class: "app-healed-drift", "aria-label": "Last drift" },
    el("h3", {}, "Last drift, put back"),
    el(
      "p",
      {},
      el("strong", { class: "app-drift-manager" }, h.manager || "someone"),
      " changed ",
      el("code", {}, fields || "fields"),
      " ",
      timeEl(h.time || h.detectedAt),
      "; ",
      el("span", { class: "app-healed" }, h.healedBy === "self-heal" || !h.healedBy ? "self-heal put it back " : `${h.healedBy} put it back `),
      timeEl(h.healedAt, ""),
      ".",
    ),
  );
}

/** A Secret's values never show here, whatever a status says (the API redacts them too). */
function shown(n, path, value) {
  const secret = n.kind === "Secret" && !n.group && /^(data|stringData)\b/.test(path);
  return secret && value !== "" && value !== "(absent)" ? "<redacted>" : value === "" ? "(absent)" : value;
}

/** Drift as tether records it: each field with its value in Git and live, who changed it and when, and whether self-heal put it back. */
function driftPanel(n) {
  const d = n.drift;
  const selfHeal = !!state.app.spec?.syncPolicy?.automated?.selfHeal;
  if (!d) {
    if (!n.managed) return null;
    const h = n.healedDrift;
    return [
      el("p", { class: "app-no-drift muted" }, "No drift: live matches Git for every field tether compares."),
      h ? healedEl(n, h) : null,
    ];
  }
  const healedAt = d.healedAt || n.healedAt;
  const healed = d.healed ?? n.healed;
  return el(
    "section",
    { class: "app-drift", "aria-label": "Drift", dataset: { drift: "true" } },
    el("h3", {}, "Drifted from Git"),
    el(
      "p",
      {},
      "Changed by ",
      el("strong", { class: "app-drift-manager" }, d.manager || "an unknown writer"),
      d.time ? [" ", timeEl(d.time)] : null,
      el("span", { class: "muted" }, " (the field manager that last wrote it)"),
    ),
    el(
      "table",
      { class: "app-table app-drift-fields" },
      el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Field"), el("th", { scope: "col" }, "In Git"), el("th", { scope: "col" }, "Live"))),
      el(
        "tbody",
        {},
        (d.fields || []).map((f) =>
          el("tr", { dataset: { field: f.path } }, el("td", {}, el("code", {}, f.path)), el("td", { class: "app-git" }, el("code", {}, shown(n, f.path, f.git))), el("td", { class: "app-live" }, el("code", {}, shown(n, f.path, f.live)))),
        ),
      ),
    ),
    el(
      "p",
      { class: "app-heal" },
      healed
        ? ["Self-heal put it back ", timeEl(healedAt, "")]
        : selfHeal
          ? "Self-heal is on: tether puts it back on its next pass."
          : "Self-heal is off for this app: it stays drifted until a Sync puts it back.",
    ),
  );
}

async function managedResources() {
  if (!state.managed || state.managedStale) {
    state.managedStale = false;
    state.managed = api(`${BASE}/managed-resources`).catch((e) => {
      state.managed = null;
      throw e;
    });
  }
  return state.managed;
}

async function loadManifests(n, box) {
  const seq = ++managedSeq;
  let r;
  try {
    r = await managedResources();
  } catch (e) {
    if (seq !== managedSeq) return;
    const err = el("div", { class: "error", role: "alert" });
    showError(err, "Reading the desired and live manifests", e);
    if (e.status === 422) err.append(el("span", { class: "hint" }, " The app's manifests in Git do not render: fix them (the error above says where)."));
    fill(box, err);
    return;
  }
  if (seq !== managedSeq) return;
  const m = r.items.find((i) => nodeId(i) === nodeId(n));
  if (!m) {
    fill(box, el("p", { class: "muted" }, `Git at ${shortRev(r.revision)} does not declare this object.`));
    return;
  }
  fill(
    box,
    el("h3", {}, "Desired and live", el("span", { class: "muted" }, ` (Git at ${shortRev(r.revision)}; ${m.action}${m.reason ? ": " + m.reason : ""})`)),
    m.fields?.length
      ? el(
          "table",
          { class: "app-table app-changed-fields" },
          el("caption", {}, "Fields that differ"),
          el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Field"), el("th", { scope: "col" }, "Desired"), el("th", { scope: "col" }, "Live"))),
          el("tbody", {}, m.fields.map((f) => el("tr", {}, el("td", {}, el("code", {}, f.path)), el("td", {}, el("code", {}, shown(n, f.path, short(f.desired)))), el("td", {}, el("code", {}, shown(n, f.path, short(f.live))))))),
        )
      : null,
    el(
      "div",
      { class: "app-side-by-side" },
      el("figure", { class: "app-manifest app-desired" }, el("figcaption", {}, "Desired (from Git)"), el("pre", { tabindex: "0", "aria-label": "Desired manifest" }, m.desired ? toYaml(m.desired) : "(not in Git: to be pruned)")),
      el("figure", { class: "app-manifest app-live-manifest" }, el("figcaption", {}, "Live (in the cluster)"), el("pre", { tabindex: "0", "aria-label": "Live manifest" }, m.live ? toYaml(m.live) : "(not in the cluster: to be created)")),
    ),
    el("figure", { class: "app-diff-box" }, el("figcaption", {}, "Diff ", el("span", { class: "muted" }, "(− live, + desired)")), m.diff ? diffEl(m.diff) : el("p", { class: "muted" }, "No difference.")),
  );
}

const short = (v) => (v === undefined || v === null ? "(absent)" : typeof v === "string" ? v : JSON.stringify(v));

function diffEl(text) {
  const frag = document.createDocumentFragment();
  for (const line of text.split("\n")) {
    const c = line.startsWith("+++") || line.startsWith("---") ? "app-diff-file" : line.startsWith("+") ? "app-diff-add" : line.startsWith("-") ? "app-diff-del" : line.startsWith("@@") ? "app-diff-hunk" : "";
    frag.append(el("span", { class: c }, line + "\n"));
  }
  return el("pre", { class: "app-diff", tabindex: "0", "aria-label": "Diff" }, frag);
}

/** The object's past drift from the audit log, and whether self-heal (or a sync) put it back. */
async function loadDriftHistory(n, box) {
  let r;
  try {
    r = await api(`${BASE}/audit`, { query: { kind: "drift,self-heal,sync", limit: 200 } });
  } catch {
    return; // The drift panel above says what matters now; this is history.
  }
  const objLabel = `${n.group ? n.group + "/" : ""}${n.kind} ${n.namespace ? n.namespace + "/" : ""}${n.name}`;
  const items = r.items;
  const drifts = items.filter((x) => x.kind === "drift" && x.object === objLabel).reverse().slice(0, 10);
  if (!drifts.length) return;
  fill(
    box,
    el("h3", {}, "Drift history"),
    el(
      "ul",
      { class: "app-drift-log" },
      drifts.map((d) => {
        const fixed = items.find((x) => (x.kind === "self-heal" || x.kind === "sync") && Date.parse(x.time) >= Date.parse(d.time) && x.outcome !== "failed");
        const fields = (d.details?.fields || []).map((f) => `${f.path}: ${shown(n, f.path, f.git || "")} → ${shown(n, f.path, f.live || "")}`).join("; ");
        return el(
          "li",
          {},
          timeEl(d.time),
          " ",
          el("strong", {}, d.actor),
          " changed ",
          el("code", {}, fields || d.message),
          fixed
            ? [el("span", { class: "app-healed" }, fixed.kind === "self-heal" ? " — self-heal put it back " : ` — a sync by ${fixed.actor} put it back `), timeEl(fixed.finished || fixed.time)]
            : el("span", { class: "muted" }, n.drift ? " — still drifted" : " — live matches Git again (put back outside tether)"),
        );
      }),
    ),
  );
}

// ---- YAML (display only) ------------------------------------------------------------

const PLAIN = /^[A-Za-z0-9_./][A-Za-z0-9_ ./:@=+-]*$/;
const RESERVED = /^(true|false|null|yes|no|on|off|y|n|~|[-+]?(\d[\d_]*)?\.?\d*([eE][-+]?\d+)?)$/i;
function scalar(v) {
  if (v === null || v === undefined) return "null";
  if (typeof v !== "string") return String(v);
  return PLAIN.test(v) && !RESERVED.test(v) && !v.endsWith(" ") && !v.includes(": ") ? v : JSON.stringify(v);
}
const isEmpty = (v) => v && typeof v === "object" && (Array.isArray(v) ? v.length === 0 : Object.keys(v).length === 0);

function toYaml(v, pad = "") {
  if (Array.isArray(v)) {
    if (!v.length) return pad + "[]";
    return v
      .map((x) => {
        if (x && typeof x === "object" && !isEmpty(x)) return pad + "- " + toYaml(x, pad + "  ").slice(pad.length + 2);
        return pad + "- " + (isEmpty(x) ? (Array.isArray(x) ? "[]" : "{}") : scalar(x));
      })
      .join("\n");
  }
  if (v && typeof v === "object") {
    const keys = Object.keys(v);
    if (!keys.length) return pad + "{}";
    return keys
      .map((k) => {
        const x = v[k];
        const key = pad + scalar(k) + ":";
        if (x && typeof x === "object" && !isEmpty(x)) return key + "\n" + toYaml(x, pad + "  ");
        if (isEmpty(x)) return key + (Array.isArray(x) ? " []" : " {}");
        if (typeof x === "string" && x.includes("\n")) return key + " |\n" + x.replace(/\n$/, "").split("\n").map((l) => pad + "  " + l).join("\n");
        return key + " " + scalar(x);
      })
      .join("\n");
  }
  return pad + scalar(v);
}

// ---- history ----------------------------------------------------------------------

function renderHistory() {
  const h = state.app.status?.history || [];
  const current = state.app.status?.sync?.revision;
  const key = JSON.stringify(h) + current + state.mayAct;
  if (key === state.historyKey) return;
  state.historyKey = key;
  if (!h.length) {
    fill(panels.history, el("p", { class: "muted" }, "No syncs yet."));
    return;
  }
  fill(
    panels.history,
    el(
      "ol",
      { class: "app-history", reversed: true },
      [...h].reverse().map((e) => {
        const c = e.commit;
        return el(
          "li",
          { class: "app-history-entry", dataset: { history: e.id, revision: e.revision } },
          el(
            "div",
            { class: "app-history-head" },
            el("strong", {}, `#${e.id}`),
            badge("phase", e.result),
            el("code", { title: e.revision }, shortRev(e.revision)),
            c ? el("span", { class: "app-commit-msg" }, c.message.split("\n")[0]) : null,
            c ? el("span", { class: "muted" }, `by ${c.author}, committed `, timeEl(c.time)) : null,
            state.mayAct && e.revision !== current
              ? el("button", { type: "button", dataset: { action: "rollback", id: e.id }, onclick: () => doRollback(e) }, `Roll back to ${shortRev(e.revision)}…`)
              : e.revision === current
                ? el("span", { class: "muted" }, "(the revision now)")
                : null,
          ),
          el(
            "p",
            { class: "app-history-meta" },
            "Started ",
            timeEl(e.startedAt),
            ` by ${e.initiator}`,
            e.durationMs != null ? `, took ${fmtDuration(e.durationMs)}` : "",
            e.summary ? `: ${e.summary}` : "",
          ),
          optionsEl(e.options),
          e.message ? el("p", { class: "app-history-message" }, e.message) : null,
          e.changes?.length ? el("details", {}, el("summary", {}, `${e.changes.length} change${e.changes.length > 1 ? "s" : ""}`), el("ul", { class: "app-history-changes" }, e.changes.map((x) => el("li", {}, el("code", {}, x))))) : null,
          el("div", { class: "error app-row-error", role: "alert", hidden: true }),
        );
      }),
    ),
  );
}

/** A sync's options (selected objects, prune on request), when it had any. */
function optionsEl(o) {
  if (!o || (!o.resources?.length && o.prune == null)) return null;
  return el(
    "p",
    { class: "app-history-options" },
    o.resources?.length ? ["Only ", o.resources.map((r) => el("code", {}, label(r))).flatMap((c, i) => (i ? [", ", c] : [c]))] : null,
    o.resources?.length && o.prune != null ? "; " : null,
    o.prune != null ? `prune ${o.prune ? "on" : "off"} on request` : null,
  );
}

function fmtDuration(ms) {
  return ms < 1000 ? `${ms} ms` : ms < 60000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.floor(ms / 60000)} min ${Math.round((ms % 60000) / 1000)} s`;
}

// ---- events, audit, notifiers: fetched when their tab is open -------------------------

const loaders = {};
/** Fetches for a tab, at most once per second while the stream keeps saying something changed. */
function load(name, fn) {
  const l = (loaders[name] ||= { running: false, again: false });
  if (l.running) {
    l.again = true;
    return;
  }
  l.running = true;
  fn()
    .catch((e) => {
      const box = el("div", { class: "error", role: "alert" });
      showError(box, `Reading the ${name}`, e);
      fill(panels[name], box, el("p", {}, el("button", { type: "button", onclick: () => renderTab() }, "Try again")));
    })
    .finally(() =>
      setTimeout(() => {
        l.running = false;
        if (l.again && shownTab === name) {
          l.again = false;
          load(name, fn);
        }
      }, 1000),
    );
}

function reloadButton() {
  return el("button", { type: "button", class: "quiet", onclick: () => renderTab() }, "Reload");
}

function loadEvents() {
  load("events", async () => {
    const r = await api(`${BASE}/events`);
    const items = [...r.items].reverse();
    fill(
      panels.events,
      el("div", { class: "app-panel-head" }, el("span", { class: "muted" }, `${items.length} Kubernetes Events on the app and its objects, newest first`), reloadButton()),
      items.length
        ? el(
            "table",
            { class: "app-table app-events" },
            el("thead", {}, el("tr", {}, ["When", "Type", "Reason", "Object", "Message", "From"].map((h) => el("th", { scope: "col" }, h)))),
            el(
              "tbody",
              {},
              items.map((e) =>
                el("tr", { class: e.type === "Warning" ? "app-warning" : "" }, el("td", {}, timeEl(e.lastTime, "")), el("td", {}, e.type), el("td", {}, e.reason, e.count > 1 ? ` ×${e.count}` : ""), el("td", {}, e.object), el("td", { class: "app-wrap" }, e.message), el("td", {}, e.source)),
              ),
            ),
          )
        : el("p", { class: "muted" }, "No Events (the cluster keeps them for an hour)."),
    );
  });
}

function loadAudit() {
  load("audit", async () => {
    const r = await api(`${BASE}/audit`, { query: { limit: 200 } });
    const items = [...r.items].reverse();
    fill(
      panels.audit,
      el(
        "div",
        { class: "app-panel-head" },
        el("span", { class: "muted" }, `The last ${items.length} audit records of ${KEY}, newest first. `),
        el("a", { href: "/audit?" + new URLSearchParams({ app: KEY }).toString() }, "Open in the audit log (filters, older records)"),
        reloadButton(),
      ),
      items.length
        ? el(
            "table",
            { class: "app-table app-audit" },
            el("thead", {}, el("tr", {}, ["When", "Kind", "Actor", "Object", "Outcome", "Message"].map((h) => el("th", { scope: "col" }, h)))),
            el(
              "tbody",
              {},
              items.map((a) =>
                el(
                  "tr",
                  { dataset: { audit: a.id, kind: a.kind } },
                  el("td", {}, timeEl(a.time)),
                  el("td", {}, a.kind, a.details?.action ? el("span", { class: "muted" }, ` (${a.details.action})`) : null),
                  el("td", { class: "app-actor" }, a.actor),
                  el("td", {}, a.object || ""),
                  el("td", {}, a.outcome),
                  el("td", { class: "app-wrap" }, a.message, a.revision ? el("span", { class: "muted" }, ` @ ${shortRev(a.revision)}`) : null),
                ),
              ),
            ),
          )
        : el("p", { class: "muted" }, "No audit records for this app yet."),
    );
  });
}

function loadNotifiers() {
  load("notifiers", async () => {
    const r = await api(`${BASE}/notifiers`);
    fill(
      panels.notifiers,
      r.items.length
        ? el(
            "table",
            { class: "app-table" },
            el("thead", {}, el("tr", {}, ["Notifier", "Target", "Events", "Severity", "Delivering"].map((h) => el("th", { scope: "col" }, h)))),
            el(
              "tbody",
              {},
              r.items.map((n) =>
                el(
                  "tr",
                  {},
                  el("td", {}, `${n.namespace}/${n.name}`),
                  el("td", {}, n.target),
                  el("td", {}, n.events?.length ? n.events.join(", ") : "all"),
                  el("td", {}, n.severity || ""),
                  el("td", {}, n.suspended ? "suspended" : n.ready === false ? `no: ${n.message || ""}` : n.ready ? "yes" : "not yet"),
                ),
              ),
            ),
          )
        : el("p", { class: "muted" }, "No Notifier applies to this app."),
    );
  });
}

// ---- logs: a fetch stream, never a second EventSource -----------------------------------

let logAbort = null;
let logKey = "";
const LOG_LIMIT = 512 * 1024;

function stopLogs() {
  if (logAbort) logAbort.abort();
  logAbort = null;
  logKey = "";
}

function renderLogs() {
  const pods = (state.tree?.nodes || []).filter((n) => n.kind === "Pod" && !n.group);
  const p = params();
  const sel = state.byId.get(selected());
  let pod = p.get("pod") || (sel?.kind === "Pod" ? sel.name : "") || pods[0]?.name || "";
  const container = p.get("container") || "";
  const key = pod + "/" + container;
  if (key === logKey) return;
  stopLogs();
  logKey = key;
  if (!pods.length) {
    fill(panels.logs, el("p", { class: "muted" }, "This app has no Pods."));
    return;
  }
  const out = el("pre", { class: "app-log", tabindex: "0", "aria-label": `Log of ${pod}`, "aria-live": "off" });
  const status = el("p", { class: "muted app-log-status", role: "status" }, "Connecting…");
  const err = el("div", { class: "error", role: "alert", hidden: true });
  const podSelect = el(
    "select",
    { id: "log-pod", onchange: (e) => { setParams({ pod: e.target.value }); renderLogs(); } },
    pods.map((n) => el("option", { value: n.name, selected: n.name === pod }, n.namespace ? `${n.name} (${n.namespace})` : n.name)),
  );
  const containerInput = el("input", { type: "text", id: "log-container", value: container, placeholder: "the only one", size: 14 });
  fill(
    panels.logs,
    el(
      "form",
      { class: "app-log-form", onsubmit: (e) => { e.preventDefault(); setParams({ container: containerInput.value.trim() || null }); logKey = ""; renderLogs(); } },
      el("label", { for: "log-pod" }, "Pod "),
      podSelect,
      el("label", { for: "log-container" }, " Container "),
      containerInput,
      " ",
      el("button", { type: "submit" }, "Show"),
      " ",
      el("button", { type: "button", class: "quiet", onclick: () => { logAbort?.abort(); status.textContent = "Stopped. Show follows again."; } }, "Stop following"),
    ),
    err,
    status,
    out,
  );
  const ns = pods.find((n) => n.name === pod)?.namespace;
  followLogs({ pod, container, namespace: ns }, out, status, err);
}

async function followLogs(q, out, status, err) {
  const ctrl = new AbortController();
  logAbort = ctrl;
  let response;
  try {
    response = await fetch(`${BASE}/logs` + queryString({ pod: q.pod, container: q.container, follow: "true", tailLines: 1000 }), {
      headers: { "X-Tether-Request": "1" },
      credentials: "same-origin",
      signal: ctrl.signal,
    });
    if (!response.ok) {
      let body = {};
      try {
        body = await response.json();
      } catch {
        // Not the API's JSON.
      }
      throw new ApiFailure(response.status, body.code || "HTTP" + response.status, body.message || `HTTP ${response.status}`);
    }
    status.textContent = `Following ${q.pod}${q.container ? " / " + q.container : ""}`;
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let size = 0;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      const atEnd = out.scrollTop + out.clientHeight >= out.scrollHeight - 8;
      out.append(value);
      size += value.length;
      if (size > LOG_LIMIT) {
        // Keep the newest half: a long follow must not grow the page without bound.
        const text = out.textContent;
        out.textContent = text.slice(text.length - LOG_LIMIT / 2);
        size = out.textContent.length;
      }
      if (atEnd) out.scrollTop = out.scrollHeight;
    }
    if (logAbort === ctrl) status.textContent = "The log ended (the container stopped): Show reads it again.";
  } catch (e) {
    if (e.name === "AbortError") return;
    if (logAbort !== ctrl) return;
    status.textContent = "";
    showError(err, `Reading the log of ${q.pod}`, e);
    if (e.status === 400) err.append(el("span", { class: "hint" }, " Name the container above if the Pod has several."));
  } finally {
    if (logAbort === ctrl) logAbort = null;
  }
}

// ---- the stream -----------------------------------------------------------------------

function onApp(data) {
  // Benchmarks read `tether:app-render`: from the event's arrival to the page showing it.
  performance.mark("tether:app-event");
  if (!data.application) {
    gone();
    markReady();
    markUpdate();
    return;
  }
  $("gone").hidden = true;
  state.seen = true;
  state.app = data.application;
  // A cluster that cannot be read for a moment keeps the last tree on the page (treeError says why).
  state.tree = data.tree || state.tree || { nodes: [] };
  state.treeError = data.tree ? "" : data.treeError || "";
  state.byId = new Map(state.tree.nodes.map((n) => [nodeId(n), n]));
  for (const id of state.checked) if (!state.byId.has(id)) state.checked.delete(id);
  state.managedStale = true;
  clearError(errorBox);
  renderSummary();
  renderProblem();
  renderConditions();
  renderActions();
  if (!shownTab) openTab(tab());
  else renderTab();
  markReady();
  markUpdate();
  performance.measure("tether:app-render", "tether:app-event");
}

function gone() {
  const box = $("gone");
  stopLogs();
  state.app = null;
  fill(
    box,
    el("strong", {}, state.seen ? `The Application ${KEY} was deleted.` : `There is no Application ${KEY}.`),
    " ",
    el("a", { href: "/" }, "Back to the applications"),
  );
  box.hidden = false;
  $("actions").replaceChildren();
  actionsBuilt = false;
  for (const id of ["summary", "conditions"]) $(id).replaceChildren();
  sectionKeys.clear();
  $("problem").hidden = true;
  state.tree = { nodes: [] };
  state.byId = new Map();
  rows.clear();
  if (treeEl) {
    treeEl.replaceChildren();
    detailEl.replaceChildren();
    objToolbar.replaceChildren();
  }
}

window.addEventListener("popstate", () => {
  rows.clear();
  detailKey = "";
  openTab(tab());
});

async function start() {
  state.mayAct = await canAct();
  buildTabs();
  new Stream({ app: KEY }, { app: onApp });
}

start().catch((e) => {
  showError(errorBox, "Opening the page", e instanceof ApiFailure ? e : new ApiFailure(0, "Error", String(e)));
  markReady();
});
