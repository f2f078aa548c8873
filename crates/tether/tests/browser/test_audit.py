"""The audit page (`/audit`, assets/audit.js): the log across apps, answering "who changed this
object on that day, and was it through Git?" in two clicks, with every filter in the URL, and
accessible in both themes. (That the page shows a sync with the token's name is checked where
the sync is made, in test_apps.py.)"""

from __future__ import annotations

import re

from playwright.sync_api import expect

from conftest import APPS_NAMESPACE, DEMO_APPS, axe_check, eventually, screenshot, wait_ready

OBJECT = "apps/Deployment demo-kustomize/dev-guestbook"


def test_who_changed_the_deployment_that_day_and_how_in_two_clicks(logged_in_page, kubectl,
                                                                   tether_up, browser, base_url):
    # Someone scales the Deployment by hand (drift), and puts it back.
    live = int(kubectl("get", "deployment", "-n", "demo-kustomize", "dev-guestbook",
                       "-o", "jsonpath={.spec.replicas}"))
    kubectl("scale", "-n", "demo-kustomize", "deployment/dev-guestbook", f"--replicas={live + 2}")
    eventually(lambda: tether_up.app_row("demo-kustomize")["driftCount"] > 0, what="drift seen")
    kubectl("scale", "-n", "demo-kustomize", "deployment/dev-guestbook", f"--replicas={live}")
    tether_up.wait_healthy(DEMO_APPS)

    page = logged_in_page
    asked = []
    page.on("request", lambda r: asked.append(r.url) if "/api/v1/audit" in r.url else None)
    page.goto("/audit")
    wait_ready(page)
    # Click 1: the object, on any of its records.
    page.get_by_role("button", name=f"Show only records about {OBJECT}").first.click()
    expect(page).to_have_url(re.compile(r"[?&]object=apps%2FDeployment"))
    expect(page.locator("#f-object")).to_have_value(OBJECT)
    # Click 2: the day, from its heading.
    page.locator("tr.audit-day button").first.click()
    expect(page).to_have_url(re.compile(r"since=.*until="))
    records = page.locator("tr[data-record]")
    expect(records.first).to_be_visible()
    for text in records.all_inner_texts():
        assert "dev-guestbook" in text, text
    # The answer: by kubectl, not through Git, with the field and both values; and the
    # sync that created it, through Git at a commit.
    drift = page.locator('tr[data-kind="drift"]').first
    expect(drift.locator('[data-how="drift"]')).to_contain_text("Not through Git")
    expect(drift.locator('[data-how="drift"]')).to_contain_text("kubectl")
    expect(drift).to_contain_text(f"spec.replicas: {live} → {live + 2}")
    expect(drift.get_by_role("link", name=f"{APPS_NAMESPACE}/demo-kustomize")).to_have_attribute(
        "href", f"/applications/{APPS_NAMESPACE}/demo-kustomize")
    created = page.locator('tr[data-kind="object-change"]').first
    expect(created.locator('[data-how="git"]')).to_contain_text(re.compile(r"Via Git at commit [0-9a-f]{7}"))

    # Every filter is in the URL: the link reopens the same view elsewhere.
    page.select_option("#f-kind", "drift")
    expect(page).to_have_url(re.compile(r"kind=drift"))
    expect(page.locator('tr[data-record]:not([data-kind="drift"])')).to_have_count(0)
    shared = page.url
    other = browser.new_context(base_url=base_url)
    try:
        p2 = other.new_page()
        p2.goto(f"/login#token={tether_up.token}")
        p2.wait_for_url(re.compile(r"/(\?.*)?$"))
        p2.goto(shared)
        wait_ready(p2)
        expect(p2.locator("#f-object")).to_have_value(OBJECT)
        expect(p2.locator("#f-kind")).to_have_value("drift")
        expect(p2.locator('tr[data-kind="drift"]').first).to_contain_text("kubectl")
    finally:
        other.close()

    # A quick pick replaces the day; "Any time" clears it; the actor filter takes a prefix.
    page.get_by_role("button", name="7 days").click()
    expect(page).to_have_url(re.compile(r"since=7d"))
    expect(page).not_to_have_url(re.compile(r"until="))
    page.locator("#f-actor").fill("kubectl*")
    expect(page).to_have_url(re.compile(r"actor=kubectl"))
    expect(page.locator('tr[data-kind="drift"]').first).to_be_visible()
    page.get_by_role("button", name="Clear filters").click()
    expect(page).to_have_url(re.compile(r"/audit$"))
    # Everything came from the public cross-app route, one request per view.
    assert asked and all(re.search(r"/api/v1/audit(\?|$)", u) for u in asked), asked

    # Paged by the server, newest first: older, then back to the newest.
    page.goto(f"/audit?app={APPS_NAMESPACE}/demo-kustomize&limit=2")
    wait_ready(page)
    records = page.locator("tr[data-record]")
    expect(records).to_have_count(2)
    newest = [records.nth(i).get_attribute("data-record") for i in range(2)]
    newest_times = page.locator("tr[data-record] time").evaluate_all("ts => ts.map(t => Date.parse(t.dateTime))")
    page.get_by_role("button", name="Older records").click()
    expect(records.first).not_to_have_attribute("data-record", newest[0])
    older = [records.nth(i).get_attribute("data-record") for i in range(records.count())]
    assert not set(older) & set(newest), (newest, older)
    older_times = page.locator("tr[data-record] time").evaluate_all("ts => ts.map(t => Date.parse(t.dateTime))")
    assert max(older_times) <= newest_times[-1], (newest_times, older_times)
    assert "continue" not in page.url  # the shareable URL is the first page's
    page.get_by_role("button", name="Newer records").click()
    expect(records.first).to_have_attribute("data-record", newest[0])


def test_the_audit_page_is_accessible_in_both_themes(logged_in_page):
    page = logged_in_page
    page.goto(f"/audit?app={APPS_NAMESPACE}/demo-plain")
    wait_ready(page)
    expect(page.locator("tr[data-record]").first).to_be_visible()
    screenshot(page, "audit")
    axe_check(page, "audit")
    page.emulate_media(color_scheme="dark")
    screenshot(page, "audit-dark")
    axe_check(page, "audit-dark")
