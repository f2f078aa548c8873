"""The application page (/applications/{ns}/{name}): the tree of objects, the selected object's
manifests, diff and drift, the actions reaching the cluster, a render error's file and line, the
readonly view, accessibility, and the one stream connection.

The demo apps of `tether up` are shared with other tests: what these tests change there they put
back. The actions run on an app of their own (`browser-ops`, from a folder of the demo repository),
which the last step deletes from the page.
"""

from __future__ import annotations

import base64
import json
import re
import time

from playwright.sync_api import expect

from conftest import (APPS_NAMESPACE, StreamTracker, axe_check, eventually, screenshot, sign_in,
                      stream_connections, wait_ready)

DEMO = "demo-plain"
DEPLOYMENT = f"apps/Deployment/{DEMO}/hello"
OPS = "browser-ops"
SECRET = "hunter2-from-git"


class LogTracker(StreamTracker):
    """The log requests (`…/logs?…`) the page holds open, as StreamTracker counts streams."""

    def _sent(self, e):
        url = e["request"]["url"]
        if re.search(r"/api/v1/applications/[^/]+/[^/]+/logs$", url.split("?", 1)[0]):
            self.open[e["requestId"]] = url
            self.opened += 1


def open_app(page, name: str, query: str = ""):
    page.goto(f"/applications/{APPS_NAMESPACE}/{name}{query}")
    wait_ready(page)
    # The first `app` event has been rendered: the summary shows the app's sync status.
    expect(page.locator("#summary .badge").first).to_be_visible()


def node(page, node_id: str):
    return page.locator(f'[data-node="{node_id}"]')


def deployment_replicas(kubectl, ns: str, name: str) -> int:
    return int(kubectl("get", "deployment", name, "-n", ns, "-o", "jsonpath={.spec.replicas}"))


def test_the_tree_shows_deployment_replicaset_pod_and_a_scale_shows_its_drift_within_a_second(
        logged_in_page, tether_up, kubectl):
    page = logged_in_page
    tether_up.wait_healthy([DEMO])
    open_app(page, DEMO)

    # Deployment → ReplicaSet → Pod, as the cluster has them (owners first, one level deeper each).
    deployment = node(page, DEPLOYMENT)
    expect(deployment).to_have_attribute("aria-level", "1")
    rs = page.locator(f'[data-node^="apps/ReplicaSet/{DEMO}/hello-"]').first
    expect(rs).to_have_attribute("aria-level", "2")
    pod = page.locator(f'[data-node^="/Pod/{DEMO}/hello-"]').first
    expect(pod).to_have_attribute("aria-level", "3")
    expect(node(page, f"/ConfigMap/{DEMO}/hello-config")).to_be_visible()
    expect(deployment.locator(".badge.health-healthy")).to_be_visible()
    expect(deployment.locator(".badge.sync-synced")).to_be_visible()

    # Keyboard: arrows move between nodes (Left to the owner), Enter selects; the URL names the
    # selection (shareable).
    deployment.focus()
    page.keyboard.press("ArrowDown")
    expect(rs).to_be_focused()
    page.keyboard.press("ArrowLeft")
    expect(deployment).to_be_focused()
    page.keyboard.press("Enter")
    expect(deployment).to_have_attribute("aria-selected", "true")
    assert f"node={DEPLOYMENT.replace('/', '%2F')}" in page.url, page.url
    detail = page.locator(".app-object")
    expect(detail.locator(".app-desired pre")).to_contain_text("replicas: 2")
    expect(detail.locator(".app-live-manifest pre")).to_contain_text("replicas: 2")
    expect(detail.locator(".app-diff-box")).to_be_visible()
    # The list view shows the same objects flat.
    page.get_by_role("button", name="List").click()
    assert "view=list" in page.url
    expect(node(page, DEPLOYMENT)).to_have_attribute("aria-level", "1")
    expect(page.locator(f'[data-node^="/Pod/{DEMO}/hello-"]').first).to_have_attribute("aria-level", "1")
    page.get_by_role("button", name="Tree").click()

    # A shared URL reopens the same selection.
    page.goto(page.url)
    wait_ready(page)
    expect(node(page, DEPLOYMENT)).to_have_attribute("aria-selected", "true")
    expect(page.locator(".app-no-drift")).to_be_visible()

    # kubectl scale: the node and the drift panel show the field, both values and kubectl as
    # the actor, within 1 s of the change.
    # Tag every node element: an update re-renders only the nodes whose data changed.
    page.evaluate("() => document.querySelectorAll('[data-node]').forEach((e) => { e.__kept = true; })")
    try:
        kubectl("scale", "deployment/hello", "-n", DEMO, "--replicas=3")
        changed = time.monotonic()
        row = page.locator('.app-drift tr[data-field="spec.replicas"]')
        row.wait_for(timeout=10_000)
        seen = time.monotonic() - changed
        expect(node(page, DEPLOYMENT).locator("[data-drift]")).to_be_visible()
        expect(row.locator(".app-git")).to_have_text("2")
        expect(row.locator(".app-live")).to_have_text("3")
        expect(page.locator(".app-drift-manager")).to_contain_text("kubectl")
        expect(page.locator(".app-drift time")).to_have_attribute("datetime", re.compile(r"\d{4}-"))
        expect(page.locator(".app-drift .app-heal")).to_contain_text("Self-heal is off")
        kept = page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('[data-node]')]
            .map((e) => [e.dataset.node, !!e.__kept]))""")
        assert kept[DEPLOYMENT] is False, kept
        assert kept[f"/ConfigMap/{DEMO}/hello-config"] and kept[f"/Service/{DEMO}/hello"], kept
        print(f"drift shown {seen:.3f} s after kubectl scale returned")
        assert seen <= 1.0, f"the drift took {seen:.2f} s to show (the issue asks for 1 s)"
        axe_check(page, "app-drift")
        screenshot(page, "app-drift")
    finally:
        kubectl("scale", "deployment/hello", "-n", DEMO, "--replicas=2")
    # Put back: the drift goes without a reload.
    expect(page.locator(".app-drift")).to_have_count(0, timeout=15_000)
    expect(node(page, DEPLOYMENT).locator("[data-drift]")).to_have_count(0)
    tether_up.wait_healthy([DEMO])


def test_one_stream_whatever_is_opened_with_logs_as_a_fetch_stream_axe_and_screenshots(
        logged_in_page):
    page = logged_in_page
    logs = LogTracker(page)
    open_app(page, DEMO, f"?node={DEPLOYMENT}")
    assert stream_connections(page) == 1
    expect(page.locator(".app-desired pre")).to_be_visible()
    axe_check(page, "app-objects")
    screenshot(page, "app-light")

    # Every tab, another selected object, the list view: still one stream.
    for tab in ("Events", "Audit", "Notifiers", "History"):
        page.get_by_role("tab", name=tab).click()
        expect(page.get_by_role("tab", name=tab)).to_have_attribute("aria-selected", "true")
        expect(page.get_by_role("tabpanel", name=tab)).not_to_be_empty()
    expect(page.locator(".app-history-entry").first).to_be_visible()
    axe_check(page, "app-history")
    page.get_by_role("tab", name="Audit").click()
    expect(page.locator(".app-audit, .app-panel-audit p").first).to_be_visible()
    axe_check(page, "app-audit")
    page.get_by_role("tab", name="Objects").click()
    page.locator(f'[data-node^="/Pod/{DEMO}/hello-"]').first.click()
    page.get_by_role("link", name=re.compile("^Logs of ")).click()
    expect(page.get_by_role("tab", name="Logs")).to_have_attribute("aria-selected", "true")
    expect(page.locator(".app-log-status")).to_contain_text("Following", timeout=10_000)
    # Following is a fetch stream, held open beside the one event stream.
    assert logs.count() == 1 and "follow=true" in next(iter(logs.open.values())), logs.open
    assert stream_connections(page) == 1
    # Leaving the tab stops following.
    page.get_by_role("tab", name="Objects").click()
    eventually(lambda: logs.count() == 0, timeout=5, what="the log's fetch to be aborted")
    assert stream_connections(page) == 1

    # Dark (the system setting) and a phone's width.
    page.emulate_media(color_scheme="dark")
    open_app(page, DEMO, f"?node={DEPLOYMENT}")
    expect(page.locator(".app-desired pre")).to_be_visible()
    axe_check(page, "app-dark")
    screenshot(page, "app-dark")
    page.emulate_media(color_scheme="light")
    page.set_viewport_size({"width": 390, "height": 844})
    open_app(page, DEMO, f"?node={DEPLOYMENT}")
    expect(page.locator(".app-desired pre")).to_be_visible()
    # Usable on a phone: nothing wider than the screen but the scrolling boxes.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390 + 1
    screenshot(page, "app-phone")
    assert stream_connections(page) == 1


def ops_files(greeting: str, replicas: int) -> dict:
    return {
        f"{OPS}/configmap.yaml": (
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ops-config\n"
            f"data:\n  greeting: {greeting}\n"),
        f"{OPS}/deployment.yaml": (
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: ops\nspec:\n"
            f"  replicas: {replicas}\n  selector:\n    matchLabels:\n      app: ops\n  template:\n"
            "    metadata:\n      labels:\n        app: ops\n    spec:\n      containers:\n"
            "        - name: ops\n          image: nginx:1.27\n"),
        f"{OPS}/secret.yaml": (
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: ops-secret\n"
            f"stringData:\n  password: {SECRET}\n"),
    }


def greeting(kubectl) -> str:
    out = kubectl("get", "configmap", "ops-config", "-n", OPS, "-o", "jsonpath={.data.greeting}",
                  check=False)
    return out.strip()


def confirm(page, ok: str | None = None):
    dialog = page.locator("dialog#confirm")
    expect(dialog).to_be_visible()
    dialog.locator("#confirm-ok").click()
    expect(dialog).to_be_hidden()


def test_sync_dry_run_rollback_render_error_and_delete_from_the_page_reach_the_cluster(
        logged_in_page, tether_up, kubectl, git_commit, api):
    page = logged_in_page
    first = git_commit(None, ops_files("one", 1), message="browser-ops: greeting one")
    app = {
        "apiVersion": "tether.dev/v1alpha1", "kind": "Application",
        "metadata": {"name": OPS, "namespace": APPS_NAMESPACE},
        "spec": {"source": {"repoURL": f"file://{tether_up.repo}", "path": OPS},
                 "destination": {"namespace": OPS},
                 "syncPolicy": {"syncOptions": ["CreateNamespace=true"]}},
    }
    kubectl("apply", "-f", "-", input=json.dumps(app))
    try:
        eventually(lambda: (tether_up.app_row(OPS) or {}).get("sync") == "OutOfSync", timeout=60,
                   what=f"{OPS} to be compared with Git")
        open_app(page, OPS)

        # A dry run shows what would change and applies nothing.
        page.locator('#actions [data-action="sync"]').click()
        page.locator("#sync-dry-run").check()
        confirm(page)
        result = page.locator("#action-result")
        expect(result).to_contain_text("Dry run")
        expect(result.locator(f'[data-node="/ConfigMap/{OPS}/ops-config"]')).to_contain_text("create")
        assert greeting(kubectl) == ""

        # Sync reaches the cluster.
        page.locator('#actions [data-action="sync"]').click()
        confirm(page)
        eventually(lambda: greeting(kubectl) == "one", timeout=60, what="the sync to apply")
        expect(page.locator("#summary .badge.sync-synced")).to_be_visible(timeout=30_000)
        expect(node(page, f"apps/Deployment/{OPS}/ops")).to_be_visible()

        # A Secret's values show nowhere on the page: redacted in both manifests.
        node(page, f"/Secret/{OPS}/ops-secret").click()
        expect(page.locator(".app-desired pre")).to_contain_text("<redacted>")
        expect(page.locator(".app-live-manifest pre")).to_contain_text("<redacted>")
        html = page.content()
        assert SECRET not in html and base64.b64encode(SECRET.encode()).decode() not in html

        # A second commit, synced from the page; then roll back to the first from History.
        second = git_commit(None, ops_files("two", 2), message="browser-ops: greeting two")
        eventually(lambda: (tether_up.app_row(OPS) or {}).get("revision") == second, timeout=60,
                   what="the second commit to be seen")
        # Only the ticked ConfigMap: applied alone, or (an API that cannot yet) refused, with
        # the API's reason shown where the action was taken.
        page.locator(f'[data-node="/ConfigMap/{OPS}/ops-config"] input.app-node-check').check()
        page.locator('[data-action="sync"][data-scope="selected"]').click()
        expect(page.locator("#sync-selected")).to_be_checked()
        with page.expect_response(lambda r: r.url.endswith(f"/{OPS}/sync")) as answer:
            confirm(page)
        print(f"a sync of the selected object answered {answer.value.status}")
        if answer.value.status == 501:
            expect(page.locator("#action-error")).to_contain_text("Sync failed")
            expect(page.locator("#action-error")).to_contain_text(answer.value.json()["message"])
        else:
            assert answer.value.status == 202, answer.value.text()
            eventually(lambda: greeting(kubectl) == "two", timeout=60, what="the selected sync")
            assert deployment_replicas(kubectl, OPS, "ops") == 1
            expect(page.locator("#summary")).to_contain_text(f"Only ConfigMap {OPS}/ops-config")
        page.locator(f'[data-node="/ConfigMap/{OPS}/ops-config"] input.app-node-check').uncheck()
        page.locator('#actions [data-action="sync"]').click()
        confirm(page)
        eventually(lambda: greeting(kubectl) == "two" and deployment_replicas(kubectl, OPS, "ops") == 2,
                   timeout=60, what="the second sync")
        page.get_by_role("tab", name="History").click()
        entry = page.locator(f'.app-history-entry[data-revision="{first}"]').first
        expect(entry).to_contain_text("browser-ops: greeting one")
        expect(entry).to_contain_text("token:tether-up")
        entry.locator('[data-action="rollback"]').click()
        expect(page.locator("#confirm-body")).to_contain_text(first[:7])
        confirm(page)
        eventually(lambda: greeting(kubectl) == "one" and deployment_replicas(kubectl, OPS, "ops") == 1,
                   timeout=60, what="the rollback to apply")

        # The app's audit names the token for each.
        page.get_by_role("tab", name="Audit").click()
        audit = page.locator(".app-audit")
        expect(audit.locator('tr[data-kind="api-request"]').filter(has_text="rollback")
               .locator(".app-actor")).to_have_text("token:tether-up", timeout=10_000)
        expect(audit.locator('tr[data-kind="api-request"]').filter(has_text="(sync)")
               .first.locator(".app-actor")).to_have_text("token:tether-up")

        # A broken file: the page shows its file and line.
        git_commit(None, {f"{OPS}/broken.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: [oops\n"},
                   message="browser-ops: a broken file")
        problem = page.locator("#problem")
        expect(problem).to_be_visible(timeout=60_000)
        expect(problem).to_contain_text("broken.yaml")
        expect(problem.locator(".app-error-file")).to_contain_text(re.compile(r"broken\.yaml:3"))
        axe_check(page, "app-render-error")
        screenshot(page, "app-render-error")
        git_commit(None, {f"{OPS}/broken.yaml": None}, message="browser-ops: fixed")
        expect(problem).to_be_hidden(timeout=60_000)

        # With self-heal on, a kubectl scale is put back, and the object's drift history says so.
        kubectl("patch", "application", OPS, "-n", APPS_NAMESPACE, "--type=merge", "-p",
                json.dumps({"spec": {"syncPolicy": {"automated": {"prune": True, "selfHeal": True}}}}))
        expect(page.locator("#summary")).to_contain_text("self-heal", timeout=15_000)
        eventually(lambda: greeting(kubectl) == "two", timeout=60, what="the automated sync")
        page.get_by_role("tab", name="Objects").click()
        node(page, f"apps/Deployment/{OPS}/ops").click()
        kubectl("scale", "deployment/ops", "-n", OPS, "--replicas=3")
        healed = page.locator(".app-drift-log li").filter(has_text="self-heal put it back")
        expect(healed.first).to_contain_text("spec.replicas: 2 → 3", timeout=30_000)
        expect(healed.first).to_contain_text("kubectl")
        assert deployment_replicas(kubectl, OPS, "ops") == 2
        # The tree's own record of it: the last drift and who put it back.
        last = page.locator(".app-healed-drift")
        expect(last).to_contain_text("spec.replicas: 2 → 3", timeout=15_000)
        expect(last).to_contain_text("put it back")
        print("last drift:", last.inner_text())

        # A second window on the app: it says so when the app is deleted.
        other = page.context.new_page()
        open_app(other, OPS)
        # Delete from the page: the confirmation says the objects go too; then back to the list.
        page.locator('#actions [data-action="delete"]').click()
        expect(page.locator("#delete-what")).to_contain_text("and the")
        confirm(page)
        page.wait_for_url(re.compile(r"^http://[^/]+/(\?.*)?$"))
        expect(other.locator("#gone")).to_contain_text(f"{OPS} was deleted", timeout=60_000)
        assert other.locator("[data-action]").count() == 0
        other.close()
        eventually(lambda: api("GET", f"/api/v1/applications/{APPS_NAMESPACE}/{OPS}").status == 404,
                   timeout=60, what="the Application to be gone")
        eventually(lambda: greeting(kubectl) == "", timeout=60, what="its ConfigMap to be gone")
        records = api("GET", f"/api/v1/applications/{APPS_NAMESPACE}/{OPS}/audit?kind=api-request").json
        actions = {(r["details"] or {}).get("action"): r["actor"] for r in records["items"]}
        assert actions.get("delete") == "token:tether-up", records
        assert actions.get("rollback") == "token:tether-up", records
        assert actions.get("sync") == "token:tether-up", records
    finally:
        kubectl("delete", "application", OPS, "-n", APPS_NAMESPACE, "--ignore-not-found", "--wait=false")
        git_commit(None, {f"{OPS}/{f}.yaml": None for f in ("configmap", "deployment", "secret", "broken")},
                   message="browser-ops: cleaned up")


def test_a_readonly_token_sees_no_action_buttons(page, readonly_token, api):
    sign_in(page, readonly_token)
    open_app(page, DEMO, f"?node={DEPLOYMENT}")
    expect(page.locator(".app-desired pre")).to_be_visible()
    assert page.locator("[data-action]").count() == 0
    assert page.locator("input.app-node-check").count() == 0
    page.get_by_role("tab", name="History").click()
    expect(page.locator(".app-history-entry").first).to_be_visible()
    assert page.locator("[data-action]").count() == 0
    # And what the page hides, the API refuses.
    forged = api("POST", f"/api/v1/applications/{APPS_NAMESPACE}/{DEMO}/sync", token=readonly_token,
                 json={})
    assert forged.status == 403, forged
