"""Typed objects without kind or apiVersion, as the client's users build them:
create, read, replace, patch (strategic, merge, JSON and server-side apply) and
delete; Secrets written with string_data; lists with selectors and paging."""

import base64

from kubernetes import client
from kubernetes.client.rest import ApiException

from harness import api_client, check, namespace

api = api_client()
core = client.CoreV1Api(api)
ns = namespace(core, "crud")

# Create and read: the models carry no kind, the server takes it from the URL.
cm = client.V1ConfigMap(
    metadata=client.V1ObjectMeta(name="settings", labels={"app": "web", "tier": "front"}),
    data={"mode": "fast"},
)
check(cm.kind is None and cm.api_version is None, "the typed model is sent without kind")
created = core.create_namespaced_config_map(ns, cm)
check(created.kind == "ConfigMap" and created.api_version == "v1", "create answers a typed ConfigMap")
check(created.metadata.uid and created.metadata.resource_version, "server-set uid and resourceVersion")
got = core.read_namespaced_config_map("settings", ns)
check(got.data == {"mode": "fast"}, "read returns the data")

# Replace with the read object: its resourceVersion is the precondition.
got.data["mode"] = "slow"
replaced = core.replace_namespaced_config_map("settings", ns, got)
check(replaced.data["mode"] == "slow", "replace stores the new data")
check(
    int(replaced.metadata.resource_version) > int(created.metadata.resource_version),
    "replace moves the resourceVersion",
)

# Patches: a dict is a strategic merge patch, a list a JSON patch.
patched = core.patch_namespaced_config_map("settings", ns, {"data": {"extra": "1"}})
check(patched.data == {"mode": "slow", "extra": "1"}, "strategic merge patch adds a key")
patched = core.patch_namespaced_config_map(
    "settings", ns, [{"op": "remove", "path": "/data/extra"}]
)
check(patched.data == {"mode": "slow"}, "JSON patch removes a key")

# Server-side apply, with the boolean force written the client's way (force=True).
applied = core.patch_namespaced_config_map(
    "settings",
    ns,
    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"mode": "applied"}},
    field_manager="python-apply",
    force=True,
    _content_type="application/apply-patch+yaml",
)
check(applied.data["mode"] == "applied", "server-side apply with force=True takes the field")
managers = {m.manager for m in applied.metadata.managed_fields}
check("python-apply" in managers, "the applier is recorded in managedFields")
for entry in applied.metadata.managed_fields:
    fields = entry.fields_v1 or {}
    check("." not in fields.get("f:metadata", {}), f"no '.' on f:metadata for {entry.manager}")

# Secrets: string_data is written into data, base64, and never read back.
secret = client.V1Secret(metadata=client.V1ObjectMeta(name="creds"), string_data={"user": "admin"})
made = core.create_namespaced_secret(ns, secret)
check(made.string_data is None, "string_data is not returned")
check(made.data == {"user": base64.b64encode(b"admin").decode()}, "string_data is merged into data")
made.string_data = {"password": "hunter2"}
made = core.replace_namespaced_secret("creds", ns, made)
check(set(made.data) == {"user", "password"} and made.string_data is None, "replace merges string_data too")
check(made.type == "Opaque", "a Secret defaults to type Opaque")

# Lists: label selectors, field selectors, paging with limit and continue.
for i in range(5):
    core.create_namespaced_config_map(
        ns,
        client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name=f"page-{i}", labels={"app": "paged", "n": str(i % 2)})
        ),
    )
selected = core.list_namespaced_config_map(ns, label_selector="app=paged,n=1")
check(sorted(i.metadata.name for i in selected.items) == ["page-1", "page-3"], "label selector")
check(all(i.kind is None for i in selected.items), "typed list items carry no kind, as on a real server")
by_name = core.list_namespaced_config_map(ns, field_selector="metadata.name=page-2")
check([i.metadata.name for i in by_name.items] == ["page-2"], "field selector")
names, token, pages = [], None, 0
while True:
    page = core.list_namespaced_config_map(ns, label_selector="app=paged", limit=2, _continue=token)
    pages += 1
    names += [i.metadata.name for i in page.items]
    token = page.metadata._continue
    if not token:
        break
check(pages == 3 and names == [f"page-{i}" for i in range(5)], "paging with limit and continue")
everywhere = core.list_config_map_for_all_namespaces(label_selector="app=paged")
check(len(everywhere.items) == 5, "the all-namespaces list")

# Delete, then it is gone.
core.delete_namespaced_config_map("settings", ns)
try:
    core.read_namespaced_config_map("settings", ns)
    raise AssertionError("read after delete should fail")
except ApiException as e:
    check(e.status == 404, "read after delete is 404")
deleted = core.delete_collection_namespaced_config_map(ns, label_selector="app=paged")
check(core.list_namespaced_config_map(ns, label_selector="app=paged").items == [], "delete collection")
print("crud: all checks passed")
