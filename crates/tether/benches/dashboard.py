"""The dashboard in headless Chromium, measured (run by `cargo bench -p tether --bench dashboard`,
which starts the sandbox and the agent, creates the apps and passes them here in the env).

1. The Applications page with TETHER_BENCH_APPS apps: the server time of the list request the
   page makes, the bytes the page load transfers (HTML, JS, CSS, API, stream), and the time from
   navigation start to the page's `tether:rendered` mark, over cold loads (cache disabled, a new
   browser context each).
2. One app with TETHER_BENCH_OBJECTS objects: navigation start to `tether:rendered` on its page,
   and an update to one object (a ConfigMap edited in the cluster): the stream event's arrival to
   the page's `tether:update` mark, the edit to that mark, and, from a MutationObserver, which
   elements changed (inside the edited object's `data-node`, in other nodes, elsewhere).

Debian's Chromium by its path, as the browser tests; figures are printed, and a screenshot of
each page goes to target/browser-artifacts/.
"""

import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

BASE = os.environ["TETHER_BENCH_BASE"]
TOKEN = os.environ["TETHER_BENCH_TOKEN"]
KUBECONFIG = os.environ["TETHER_BENCH_KUBECONFIG"]
APPS = int(os.environ.get("TETHER_BENCH_APPS", "10000"))
BIG = os.environ.get("TETHER_BENCH_BIG_APP", "tether/big")
BIG_NS = os.environ.get("TETHER_BENCH_BIG_NAMESPACE", "big")
EDITS = [n for n in os.environ.get("TETHER_BENCH_EDIT", "cm-000").split(",") if n]
# The ConfigMap key edited: one that Git sets, so the edit is drift (a key Git does not set is not).
EDIT_KEY = os.environ.get("TETHER_BENCH_EDIT_KEY", "index")
RUNS = int(os.environ.get("TETHER_BENCH_RUNS", "5"))
CHROMIUM = os.environ.get("TETHER_CHROMIUM", "/usr/bin/chromium")
REPO = Path(__file__).resolve().parents[3]
ARTIFACTS = REPO / "target" / "browser-artifacts"

# Before any page script: time each stream event's dispatch (a mark before the page's listener).
HOOK = """
(() => {
  const add = EventSource.prototype.addEventListener;
  EventSource.prototype.addEventListener = function (type, fn, opts) {
    const wrapped = function (e) { performance.mark("bench:event:" + type); return fn.call(this, e); };
    return add.call(this, type, wrapped, opts);
  };
})();
"""

# Which elements change, and under which `data-node` (or where else).
OBSERVE = """
() => {
  window.__muts = [];
  const describe = (n) => {
    const parts = [];
    for (let e = n; e && e !== document.body && parts.length < 3; e = e.parentElement) {
      parts.unshift(e.tagName.toLowerCase() + (e.id ? "#" + e.id : "")
        + (e.classList.length ? "." + [...e.classList].join(".") : ""));
    }
    return parts.join(" > ");
  };
  let seq = 0;
  const ids = new WeakMap();
  const id = (e) => { if (!ids.has(e)) ids.set(e, ++seq); return ids.get(e); };
  window.__observer = new MutationObserver((records) => {
    const t = performance.now();
    for (const r of records) {
      const el = r.target.nodeType === 1 ? r.target : r.target.parentElement;
      if (!el) continue;
      // A node the page replaced is a childList change of its list: it counts
      // as that node's own change, not as one outside the tree.
      let node = el.closest("[data-node]");
      if (!node) {
        node = [...r.addedNodes].find((a) => a.nodeType === 1 && a.matches("[data-node]")) || null;
      }
      window.__muts.push({ t, type: r.type, el: id(el), node: node ? node.dataset.node : null,
        where: node ? null : describe(el), added: r.addedNodes.length, removed: r.removedNodes.length,
        attr: r.attributeName });
    }
  });
  window.__observer.observe(document.body, { subtree: true, childList: true, attributes: true,
    characterData: true });
}
"""


def launch(p):
    args = ["--disable-dev-shm-usage"]
    if os.geteuid() == 0:
        args.append("--no-sandbox")
    return p.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)


class Net:
    """The page's requests through the DevTools protocol: bytes on the wire and timings."""

    def __init__(self, ctx, page):
        self.reqs = {}
        cdp = ctx.new_cdp_session(page)
        cdp.on("Network.requestWillBeSent", self.sent)
        cdp.on("Network.responseReceived", self.response)
        cdp.on("Network.dataReceived", self.data)
        cdp.on("Network.loadingFinished", self.finished)
        cdp.send("Network.enable")
        cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})

    def sent(self, e):
        self.reqs[e["requestId"]] = {"url": e["request"]["url"], "type": e.get("type", "Other"),
                                     "bytes": 0, "streamed": 0, "done": False, "timing": None,
                                     "sent": e["timestamp"], "first_data": None}

    def response(self, e):
        r = self.reqs.get(e["requestId"])
        if r is not None:
            r["timing"] = e["response"].get("timing")
            r["status"] = e["response"].get("status")
            # Headers count too; loadingFinished gives the whole when the response ends.
            r["headers"] = e["response"].get("encodedDataLength", 0)

    def data(self, e):
        r = self.reqs.get(e["requestId"])
        if r is not None:
            r["streamed"] += e.get("encodedDataLength") or e.get("dataLength", 0)
            if r["first_data"] is None:
                r["first_data"] = e["timestamp"]

    def finished(self, e):
        r = self.reqs.get(e["requestId"])
        if r is not None:
            r["bytes"] = e["encodedDataLength"]
            r["done"] = True

    def total(self):
        by_type = {}
        for r in self.reqs.values():
            n = r["bytes"] if r["done"] else r.get("headers", 0) + r["streamed"]
            by_type[r["type"]] = by_type.get(r["type"], 0) + n
        return sum(by_type.values()), by_type

    def find(self, path):
        return [r for r in self.reqs.values() if r["url"].split("?")[0].endswith(path)]


def new_page(browser):
    ctx = browser.new_context(base_url=BASE, viewport={"width": 1280, "height": 800})
    ctx.set_default_timeout(60_000)
    r = ctx.request.post("/api/v1/session", data={"token": TOKEN})
    assert r.ok, f"signing in: {r.status} {r.text()}"
    ctx.add_init_script(HOOK)
    page = ctx.new_page()
    return ctx, page, Net(ctx, page)


def rendered_ms(page):
    return page.evaluate("""() => {
        const m = performance.getEntriesByName("tether:rendered");
        return m.length ? m[0].startTime : null; }""")


def ms(v):
    return "n/a" if v is None else f"{v:.0f} ms"


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def server_time(url):
    """The list request alone, from here: p50 of 20, a new connection each."""
    times = []
    for _ in range(20):
        req = urllib.request.Request(url, headers={"Authorization": f"Bearer {TOKEN}"})
        t0 = time.perf_counter()
        with urllib.request.urlopen(req) as r:
            body = r.read()
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return times[len(times) // 2], len(body)


def apps_page(browser):
    print(f"\n## Applications page, {APPS} apps ({RUNS} cold loads, cache disabled)")
    runs = []
    for i in range(RUNS):
        ctx, page, net = new_page(browser)
        page.goto("/", wait_until="commit")
        try:
            page.wait_for_selector('main#main[data-ready="true"]', state="attached")
        except Exception as e:  # noqa: BLE001 - say so and go on: the page may not be there yet
            print(f"  the page never set data-ready: {e}")
            ctx.close()
            return
        # Let the DevTools protocol's last network events (the stream's bytes) reach us.
        page.wait_for_timeout(1000)
        total, by_type = net.total()
        # The first page: a GET of the list, or the stream's `snapshot` (its first bytes).
        lists = [r for r in net.find("/api/v1/applications") if r.get("timing")
                 and "limit=1&" not in r["url"] + "&"]
        streams = [r for r in net.find("/api/v1/stream") if r["first_data"] is not None]
        server = None
        list_url = None
        how = None
        if streams:
            r = streams[0]
            server = (r["first_data"] - r["sent"]) * 1000
            list_url = r["url"].replace("/api/v1/stream", "/api/v1/applications", 1)
            how = "the stream's snapshot (request sent -> its first bytes)"
        elif lists:
            t = lists[0]["timing"]
            server = t["receiveHeadersEnd"] - t["sendEnd"]
            list_url = lists[0]["url"]
            how = "GET (request sent -> headers)"
        tiles = page.locator("[data-app]").count()
        runs.append({"rendered": rendered_ms(page), "bytes": total, "by_type": by_type,
                     "server": server, "list_url": list_url, "how": how, "tiles": tiles})
        if i == 0:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / f"bench-apps-{APPS}.png"))
        ctx.close()
    r0 = runs[0]
    print(f"  apps on the page: {r0['tiles']} [data-app] elements")
    print(f"  navigation start -> tether:rendered: median {ms(median([r['rendered'] for r in runs]))}"
          f" (runs: {', '.join(ms(r['rendered']) for r in runs)})")
    print(f"  bytes transferred: {r0['bytes']:,} ("
          + ", ".join(f"{k} {v:,}" for k, v in sorted(r0["by_type"].items())) + ")")
    if r0["list_url"]:
        path = r0["list_url"][len(BASE):]
        p50, size = server_time(r0["list_url"])
        print(f"  the first page, in the browser, from {r0['how']}: median "
              f"{ms(median([r['server'] for r in runs]))}")
        print(f"  the same page as GET {path} alone, 20 requests: p50 {p50:.1f} ms, {size:,} bytes")
    else:
        print("  the page made no list request and opened no stream")
    return runs


def app_page(browser):
    ns, name = BIG.split("/")
    print(f"\n## One app ({BIG}) page")
    runs = []
    for i in range(RUNS):
        ctx, page, net = new_page(browser)
        page.goto(f"/applications/{ns}/{name}", wait_until="commit")
        try:
            page.wait_for_selector('main#main[data-ready="true"]', state="attached")
        except Exception as e:  # noqa: BLE001
            print(f"  the page never set data-ready: {e}")
            ctx.close()
            return
        nodes = page.locator("[data-node]").count()
        page.wait_for_timeout(1000)  # the last network events, as above
        runs.append({"rendered": rendered_ms(page), "nodes": nodes, "bytes": net.total()[0]})
        if i < RUNS - 1:
            ctx.close()
    print(f"  tree nodes on the page: {runs[0]['nodes']} [data-node] elements")
    print(f"  navigation start -> tether:rendered: median {ms(median([r['rendered'] for r in runs]))}"
          f" (runs: {', '.join(ms(r['rendered']) for r in runs)}); {runs[0]['bytes']:,} bytes")
    if runs[-1]["nodes"] == 0:
        print("  no [data-node] elements: the app page does not render its tree yet; no update measured")
        ctx.close()
        return
    page.screenshot(path=str(ARTIFACTS / "bench-app-500.png"))
    for edit in EDITS:
        update(page, edit)
    ctx.close()


def update(page, cm):
    key = f"/ConfigMap/{BIG_NS}/{cm}"
    if page.locator(f'[data-node="{key}"]').count() != 1:
        print(f"  no single [data-node=\"{key}\"] on the page; no update measured")
        return
    page.evaluate(OBSERVE)
    before = page.evaluate("performance.getEntriesByName('tether:update').length")
    t0 = page.evaluate("performance.now()")
    subprocess.run(["kubectl", "--kubeconfig", KUBECONFIG, "-n", BIG_NS, "patch", "configmap", cm,
                    "--type", "merge", "-p", json.dumps({"data": {EDIT_KEY: f"edited {time.time()}"}})],
                   check=True, capture_output=True)
    try:
        page.wait_for_function(f"""() => (window.__muts || []).some((m) => m.node === {json.dumps(key)})
            && performance.getEntriesByName('tether:update').length > {before}""", timeout=30_000)
    except Exception:  # noqa: BLE001
        print(f"  edit {cm}: the page showed no change to its node within 30 s")
        return
    page.wait_for_timeout(1500)  # later events for the same edit (the app's own status)
    out = page.evaluate("""([t0, key]) => {
        const marks = (n) => performance.getEntriesByName(n).filter((m) => m.startTime >= t0)
            .map((m) => m.startTime);
        const events = performance.getEntriesByType("mark")
            .filter((m) => m.name.startsWith("bench:event:") && m.startTime >= t0)
            .map((m) => [m.name.slice(12), m.startTime]);
        return { updates: marks("tether:update"), events, muts: window.__muts, key };
    }""", [t0, key])
    page.evaluate("window.__observer.disconnect()")
    first = next((m["t"] for m in out["muts"] if m["node"] == key), None)
    # The update that changed the edited node: the first tether:update mark at or before the
    # observer saw its mutations; the event it applied: the last one before that mark.
    upd = max([u for u in out["updates"] if first is None or u <= first] or out["updates"][:1])
    ev = max([t for _, t in out["events"] if t <= upd], default=None)
    # The mutations of that update: those observed before the next update.
    later = [u for u in out["updates"] if u > upd]
    until = later[0] if later else float("inf")
    since = ev if ev is not None else t0
    mine = [m for m in out["muts"] if since <= m["t"] <= until]
    rest = [m for m in out["muts"] if m["t"] > until]

    def summary(muts):
        els_in = {m["el"] for m in muts if m["node"] == key}
        other = sorted({m["node"] for m in muts if m["node"] not in (None, key)})
        where = sorted({m["where"] for m in muts if m["node"] is None})
        return len({m["el"] for m in muts}), len(els_in), other, where

    def kinds(muts):
        """What changed in the other nodes: mutation type (and attribute) -> records."""
        out = {}
        for m in muts:
            if m["node"] not in (None, key):
                k = m["type"] + (f" {m['attr']}" if m["attr"] else "")
                out[k] = out.get(k, 0) + 1
        return out

    total, inside, other, where = summary(mine)
    print(f"  edit one object ({key}, kubectl patch in the cluster):")
    print(f"    stream event -> tether:update: {ms(upd - ev if ev is not None else None)};"
          f" edit -> tether:update: {ms(upd - t0)}")
    print(f"    elements changed by that update: {total}; inside the edited node: {inside};"
          f" in other nodes: {len(other)}{' ' + str(other[:5]) if other else ''};"
          f" outside the tree: {len(where)}{' ' + str(where[:6]) if where else ''}")
    if other:
        print(f"    what changed in the other nodes (mutation records): {kinds(mine)}")
    if later:
        t2, i2, o2, w2 = summary(rest)
        print(f"    then {len(later)} more update(s) within 1.5 s (the app's own status): {t2} elements,"
              f" {i2} in the edited node, {len(o2)} in other nodes, outside the tree: {w2[:6]}")


def main():
    with sync_playwright() as p:
        browser = launch(p)
        apps_page(browser)
        app_page(browser)
        browser.close()


if __name__ == "__main__":
    sys.exit(main())
