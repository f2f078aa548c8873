"""The Applications page (`/`, assets/apps.js): the demo apps of the shared `tether up`, counts
that filter, a shared URL that reopens the same view, live updates from Git and from the
cluster, single and bulk actions that reach the API, a readonly session, accessibility, and one
stream connection whatever the page does.

Every test leaves the demo apps Synced and Healthy: the other tests share them."""

from __future__ import annotations

import calendar
import json
import re
import time
from contextlib import contextmanager

from playwright.sync_api import expect

from conftest import (APPS_NAMESPACE, DEMO_APPS, axe_check, eventually, screenshot, sign_in,
                      stream_connections, wait_ready)

PLAIN = f"{APPS_NAMESPACE}/demo-plain"
KUSTOMIZE = f"{APPS_NAMESPACE}/demo-kustomize"
HELM = f"{APPS_NAMESPACE}/demo-helm"

# Records, in the page, every state a tile showed (sync, drift text, revision), with the time
# it showed it: a transient state between two checks is still seen. Run through the DevTools
# protocol (page.evaluate), which the page's Content-Security-Policy does not block.
OBSERVE = """(key) => {
  window.__seen = [];
  const look = () => {
    const n = document.querySelector(`[data-app="${key}"]`);
    if (!n) return;
    const s = {
      sync: n.querySelector(".badge.sync")?.textContent || "",
      health: n.querySelector(".badge.health")?.textContent || "",
      drift: n.querySelector(".apps-drift")?.textContent || "",
      rev: n.querySelector(".apps-rev code")?.textContent || "",
    };
    const last = window.__seen[window.__seen.length - 1];
    if (!last || ["sync", "health", "drift", "rev"].some((k) => last[k] !== s[k]))
      window.__seen.push({ t: Date.now(), ...s });
  };
  look();
  new MutationObserver(look).observe(document.getElementById("apps"),
    { childList: true, subtree: true, characterData: true });
}"""


def tile(page, key: str):
    return page.locator(f'[data-app="{key}"]')


def open_apps(page, query: str = ""):
    page.goto("/" + query)
    wait_ready(page)


def seen(page) -> list[dict]:
    return page.evaluate("window.__seen")


@contextmanager
def manual_sync(kubectl, name: str):
    """The app without automated sync for a while (so that OutOfSync lasts until someone syncs),
    then its sync policy exactly as it was."""
    app = json.loads(kubectl("get", "applications.tether.dev", "-n", APPS_NAMESPACE, name,
                             "-o", "json"))
    policy = app["spec"].get("syncPolicy") or {}
    kubectl("patch", "applications.tether.dev", "-n", APPS_NAMESPACE, name, "--type", "merge",
            "-p", json.dumps({"spec": {"syncPolicy": {"automated": None}}}))
    try:
        yield
    finally:
        kubectl("patch", "applications.tether.dev", "-n", APPS_NAMESPACE, name, "--type", "merge",
                "-p", json.dumps({"spec": {"syncPolicy": policy}}))


def test_sign_in_see_the_demo_apps_filter_by_health_share_the_view_and_open_one(
        logged_in_page, browser, base_url, admin_token):
    page = logged_in_page
    wait_ready(page)
    for name in DEMO_APPS:
        t = tile(page, f"{APPS_NAMESPACE}/{name}")
        expect(t).to_be_visible()
        expect(t.get_by_role("link", name=name)).to_have_attribute(
            "href", f"/applications/{APPS_NAMESPACE}/{name}")
    healthy = page.locator('[data-filter="health=Healthy"]')
    expect(healthy).to_contain_text("3")
    expect(page.locator('[data-filter="sync=Synced"]')).to_contain_text("3")

    # A count is a filter: pressed, in the URL, and the list is the server's answer to it.
    healthy.click()
    expect(healthy).to_have_attribute("aria-pressed", "true")
    expect(page).to_have_url(re.compile(r"[?&]health=Healthy"))
    expect(page.locator("[data-app]")).to_have_count(3)
    # "/" goes to the search; typing filters (debounced, on the server).
    page.locator("body").press("/")
    expect(page.locator("#f-q")).to_be_focused()
    page.keyboard.type("kustom")
    expect(page.locator("[data-app]")).to_have_count(1)
    expect(tile(page, KUSTOMIZE)).to_be_visible()
    page.get_by_role("button", name="Table").click()
    expect(page.locator(f'tr[data-app="{KUSTOMIZE}"]')).to_be_visible()
    shared = page.url
    assert re.search(r"[?&]q=kustom", shared) and "view=table" in shared, shared
    assert stream_connections(page) == 1

    # The address bar's URL, in another browser context, reopens the same view.
    other = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 800})
    try:
        p2 = other.new_page()
        sign_in(p2, admin_token)
        p2.goto(shared)
        wait_ready(p2)
        expect(p2.locator("[data-app]")).to_have_count(1)
        expect(p2.locator(f'tr[data-app="{KUSTOMIZE}"]')).to_be_visible()
        expect(p2.locator("#f-q")).to_have_value("kustom")
        expect(p2.locator('[data-filter="health=Healthy"]')).to_have_attribute("aria-pressed", "true")
        expect(p2.get_by_role("button", name="Table")).to_have_attribute("aria-pressed", "true")
    finally:
        other.close()

    # A pressed count un-filters; the app's link opens its page.
    healthy.click()
    expect(page).not_to_have_url(re.compile(r"health="))
    page.get_by_role("link", name="demo-kustomize").click()
    page.wait_for_url(re.compile(rf"/applications/{APPS_NAMESPACE}/demo-kustomize$"))


def test_git_and_the_cluster_show_on_the_tile_live_without_a_reload(
        logged_in_page, kubectl, git_commit, tether_up):
    page = logged_in_page
    wait_ready(page)
    page.evaluate("window.__sameDocument = true")
    page.evaluate(OBSERVE, PLAIN)
    plain = tile(page, PLAIN)

    # A commit: the tile turns OutOfSync (automated sync is off for the while, so the state is
    # not gone before anyone could see it), then its Sync button brings it back to Synced at the
    # new commit.
    with manual_sync(kubectl, "demo-plain"):
        commit = git_commit(None, {"plain/browser-note.yaml": (
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: browser-note\n"
            f"data:\n  note: from the apps page test at {time.time()}\n")},
            message="Browser test: a note for the apps page")
        expect(plain.locator(".badge.sync")).to_have_text("OutOfSync", timeout=20_000)
        expect(plain.locator(".apps-rev code")).to_have_text(commit[:7])
        plain.locator('[data-action="sync"]').click()
        expect(page.locator("#confirm")).to_contain_text("Sync tether/demo-plain?")
        page.locator("#confirm-ok").click()
        expect(plain.locator(".badge.sync")).to_have_text("Synced", timeout=20_000)
        expect(plain).to_contain_text("Sync requested")
        # The commit's message and author come with the sync of it.
        expect(plain.locator(".apps-rev")).to_contain_text("Browser test: a note for the apps page")
        expect(plain.locator(".apps-rev")).to_contain_text("Browser Test")
    states = seen(page)
    assert [s["sync"] for s in states if s["rev"] == commit[:7]][:1] == ["OutOfSync"], states

    # kubectl scale: the drift is on the tile within a second, with the field, Git's value and
    # the live one, and kubectl as who did it.
    replicas = json.loads(kubectl("get", "deployment", "-n", "demo-plain", "hello", "-o", "json"))
    before = replicas["spec"]["replicas"]
    kubectl("scale", "-n", "demo-plain", "deployment/hello", f"--replicas={before + 3}")
    scaled_at = time.time() * 1000
    drift = plain.locator(".apps-drift")
    expect(drift).to_contain_text("spec.replicas", timeout=5_000)
    expect(drift).to_contain_text(f"{before} → {before + 3}")
    expect(drift.locator(".apps-actor")).to_contain_text("kubectl")
    shown = [s for s in seen(page) if "spec.replicas" in s["drift"]][0]
    print(f"drift on the tile {shown['t'] - scaled_at:.0f} ms after kubectl scale returned")
    assert shown["t"] - scaled_at < 1000, f"drift shown {shown['t'] - scaled_at:.0f} ms after kubectl"
    expect(plain.locator(".badge.sync")).to_have_text("OutOfSync")
    expect(drift.get_by_role("link", name=f"Drift history of {PLAIN}")).to_have_attribute(
        "href", f"/audit?app={PLAIN.replace('/', '%2F')}&kind=drift")

    # Back as Git says: the drift leaves the tile, still without a reload.
    kubectl("scale", "-n", "demo-plain", "deployment/hello", f"--replicas={before}")
    expect(drift).to_have_count(0, timeout=20_000)
    expect(plain.locator(".badge.sync")).to_have_text("Synced", timeout=20_000)
    assert page.evaluate("window.__sameDocument") is True
    assert page.evaluate("performance.getEntriesByName('tether:update').length") > 0
    assert stream_connections(page) == 1
    tether_up.wait_healthy(DEMO_APPS)


def test_bulk_refresh_and_sync_reach_the_api_and_the_audit_page_names_the_token(
        logged_in_page, api, kubectl, tether_up):
    page = logged_in_page
    wait_ready(page)
    annotations = lambda: api("GET", f"/api/v1/applications/{HELM}").json["metadata"].get(
        "annotations") or {}
    before = annotations().get("tether.dev/refresh")

    # Refresh two apps at once.
    for key in (PLAIN, HELM):
        page.get_by_label(f"Select {key}").check()
    bulk = page.locator("#bulk")
    expect(bulk).to_contain_text("2 selected")
    bulk.get_by_role("button", name="Refresh selected").click()
    expect(page.locator("#confirm")).to_contain_text("Refresh 2 applications?")
    expect(page.locator("#confirm")).to_contain_text(PLAIN)
    page.locator("#confirm-ok").click()
    expect(bulk).to_contain_text("Refresh requested for 2 applications")
    eventually(lambda: annotations().get("tether.dev/refresh") not in (None, before)
               and annotations().get("tether.dev/refresh-by") == "token:tether-up",
               what="the refresh annotation set by the page")

    # Sync the same two: each app's operation names the token that asked.
    asked = time.time()
    bulk.get_by_role("button", name="Sync selected").click()
    expect(page.locator("#confirm")).to_contain_text("Sync 2 applications?")
    page.locator("#confirm-ok").click()
    expect(bulk).to_contain_text("Sync requested for 2 applications")

    def synced_by_token(key):
        op = (api("GET", f"/api/v1/applications/{key}").json.get("status") or {}).get(
            "operationState") or {}
        started = op.get("startedAt")
        return (op.get("initiator") == "token:tether-up" and op.get("phase") == "Succeeded"
                and started is not None
                and calendar.timegm(time.strptime(started, "%Y-%m-%dT%H:%M:%SZ")) >= int(asked) - 1)

    for key in (PLAIN, HELM):
        eventually(lambda: synced_by_token(key), what=f"{key} synced by token:tether-up")

    # A drift for the audit page to show next to it (and put back at once).
    kubectl("scale", "-n", "demo-plain", "deployment/hello", "--replicas=5")
    eventually(lambda: tether_up.app_row("demo-plain")["driftCount"] > 0, what="drift seen")
    kubectl("scale", "-n", "demo-plain", "deployment/hello", "--replicas=2")
    tether_up.wait_healthy(DEMO_APPS)
    eventually(lambda: tether_up.app_row("demo-plain")["driftCount"] == 0, what="drift gone")

    # The audit page: the sync by the token's name, through Git, and the drift by kubectl.
    page.goto(f"/audit?app={PLAIN}&kind=sync&actor=token:tether-up")
    wait_ready(page)
    row = page.locator('tr[data-kind="sync"]').first
    expect(row).to_contain_text("token:tether-up")
    expect(row.locator('[data-how="git"]')).to_contain_text("Via Git")
    page.goto(f"/audit?app={PLAIN}&kind=api-request")
    wait_ready(page)
    row = page.locator('tr[data-kind="api-request"]').first
    expect(row.locator('[data-how="api"]')).to_contain_text("token:tether-up")
    page.goto(f"/audit?app={PLAIN}&kind=drift")
    wait_ready(page)
    row = page.locator('tr[data-kind="drift"]').first
    expect(row.locator('[data-how="drift"]')).to_contain_text("kubectl")
    expect(row).to_contain_text("spec.replicas")


def test_a_readonly_token_sees_no_actions_and_its_forged_sync_is_refused(
        browser, base_url, readonly_token):
    ctx = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 800})
    try:
        page = ctx.new_page()
        sign_in(page, readonly_token)
        wait_ready(page)
        expect(page.locator("[data-app]")).to_have_count(3)
        for view in ("tiles", "table"):
            if view == "table":
                page.get_by_role("button", name="Table").click()
                expect(page.locator("tr[data-app]")).to_have_count(3)
            assert page.locator("[data-action]").count() == 0
            assert page.locator('input[type="checkbox"]').count() == 0
        expect(page.locator("#bulk")).to_be_hidden()
        # What the page would have sent, forged: the API refuses it.
        forged = page.request.post(f"/api/v1/applications/{PLAIN}/sync", data={},
                                   headers={"X-Tether-Request": "1"})
        assert forged.status == 403, forged.text()
        refresh = page.request.get(f"/api/v1/applications/{PLAIN}?refresh=normal",
                                   headers={"X-Tether-Request": "1"})
        assert refresh.status == 403, refresh.text()
    finally:
        ctx.close()


def test_the_page_holds_one_stream_through_filtering_paging_and_views(logged_in_page):
    page = logged_in_page
    # One app per page, so that there are pages to turn.
    open_apps(page, "?limit=1")
    assert stream_connections(page) == 1
    expect(page.locator("[data-app]")).to_have_count(1)
    first = page.locator("[data-app]").get_attribute("data-app")
    next_page = page.locator('[data-page="next"]')
    next_page.click()
    expect(page.locator("[data-app]")).not_to_have_attribute("data-app", first)
    expect(page.locator("#pager")).to_contain_text("2–2 of 3")
    assert stream_connections(page) == 1
    next_page.click()
    expect(page.locator("#pager")).to_contain_text("3–3 of 3")
    expect(next_page).to_be_disabled()
    page.locator('[data-page="previous"]').click()
    page.locator('[data-page="previous"]').click()
    expect(page.locator("[data-app]")).to_have_attribute("data-app", first)
    # The first page's URL is the shareable one: no continue token in it.
    assert "continue" not in page.url
    page.get_by_role("button", name="Table").click()
    page.locator('[data-filter="sync=Synced"]').click()
    page.locator("#f-q").fill("demo")
    page.select_option("#f-sort", "-name")
    expect(page).to_have_url(re.compile(r"sort=-name"))
    expect(page.locator("tr[data-app]").first).to_have_attribute("data-app", PLAIN)
    # A table heading sorts too (by the server), and says so.
    page.locator(".apps-sort", has_text="Name").click()
    expect(page).to_have_url(re.compile(r"^[^?]*(\?(?!.*sort=).*)?$"))  # name ascending: the default
    expect(page.locator("tr[data-app]").first).to_have_attribute("data-app", HELM)
    expect(page.locator('th[aria-sort="ascending"]')).to_contain_text("Name")
    expect(page.locator(".apps-sort", has_text="Name")).to_be_focused()
    page.select_option("#f-sort", "-name")
    page.get_by_role("button", name="Tiles").click()
    expect(page.locator("article[data-app]").first).to_have_attribute("data-app", PLAIN)
    assert stream_connections(page) == 1
    assert page._tether_streams.opened >= 5  # each change resubscribed, closing the one before


def test_the_apps_page_is_accessible_light_dark_and_on_a_phone(logged_in_page):
    page = logged_in_page
    wait_ready(page)
    expect(page.locator("[data-app]")).to_have_count(3)
    screenshot(page, "apps")
    axe_check(page, "apps")
    page.get_by_role("button", name="Table").click()
    expect(page.locator("tr[data-app]")).to_have_count(3)
    screenshot(page, "apps-table")
    axe_check(page, "apps-table")
    page.emulate_media(color_scheme="dark")
    page.get_by_role("button", name="Tiles").click()
    screenshot(page, "apps-dark")
    axe_check(page, "apps-dark")
    page.get_by_role("button", name="Table").click()
    axe_check(page, "apps-table-dark")
    # A phone: tiles reflow to one column, nothing scrolls sideways but the table.
    page.emulate_media(color_scheme="light")
    page.set_viewport_size({"width": 390, "height": 844})
    page.get_by_role("button", name="Tiles").click()
    expect(page.locator("article[data-app]")).to_have_count(3)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    boxes = [page.locator(f'[data-app="{APPS_NAMESPACE}/{n}"]').bounding_box() for n in DEMO_APPS]
    assert len({round(b["x"]) for b in boxes}) == 1, boxes  # one column
    screenshot(page, "apps-phone")
    axe_check(page, "apps-phone")


def test_api_errors_show_where_the_action_was_taken_and_say_what_to_do(logged_in_page):
    page = logged_in_page
    wait_ready(page)
    # The server refuses one app's sync (as it does while an app is being deleted).
    refusal = {"code": "Conflict", "status": 409, "object": PLAIN,
               "message": f"{PLAIN} is being deleted: nothing can be synced"}
    page.route(f"**/api/v1/applications/{PLAIN}/sync",
               lambda route: route.fulfill(status=409, content_type="application/json",
                                           body=json.dumps(refusal)))
    try:
        plain = tile(page, PLAIN)
        plain.locator('[data-action="sync"]').click()
        page.locator("#confirm-ok").click()
        error = plain.locator('[role="alert"]')
        expect(error).to_be_visible()
        expect(error).to_contain_text("Sync of tether/demo-plain failed")
        expect(error).to_contain_text("is being deleted")
        expect(error).to_contain_text("Wait until the current operation ends")  # what to do
        # Nowhere else: the other tiles and the page's own error box say nothing.
        expect(page.locator("#error")).to_be_hidden()
        expect(tile(page, HELM).locator('[role="alert"]')).to_be_hidden()

        # In a bulk action, the one that failed is named, the others went through.
        for key in (PLAIN, HELM):
            page.get_by_label(f"Select {key}").check()
        page.locator("#bulk").get_by_role("button", name="Sync selected").click()
        page.locator("#confirm-ok").click()
        result = page.locator("#bulk .apps-bulk-result")
        expect(result).to_contain_text("Sync failed for 1 of 2")
        expect(result).to_contain_text(PLAIN)
        expect(tile(page, HELM)).to_contain_text("Sync requested")
        # With nothing selected the bar offers no action, only the result until dismissed.
        for key in (PLAIN, HELM):
            page.get_by_label(f"Select {key}").uncheck()
        expect(page.locator("#bulk [data-bulk]")).to_have_count(0)
        expect(result).to_be_visible()
        result.get_by_role("button", name="Dismiss").click()
        expect(page.locator("#bulk")).to_be_hidden()
    finally:
        page.unroute(f"**/api/v1/applications/{PLAIN}/sync")

    # A filter the API does not accept: its message, above the list.
    page.locator("#f-label").fill("env in (")
    expect(page.locator("#error")).to_contain_text("Filtering the applications failed")
    page.locator("#f-label").fill("")
    expect(page.locator("#error")).to_be_hidden()
    expect(page.locator("[data-app]")).to_have_count(3)
    assert stream_connections(page) == 1
