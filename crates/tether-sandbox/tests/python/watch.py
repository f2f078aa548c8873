"""Watches the way the client's users write them: Watch().stream over a list
call (the client sends watch=True), resuming from a resourceVersion, and an
informer-style list-then-watch that misses nothing written in between."""

import threading

from kubernetes import client, informer, watch

from harness import api_client, check, eventually, namespace

api = api_client()
core = client.CoreV1Api(api)
ns = namespace(core, "watch")


def cm(name, value):
    return client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name), data={"v": value})


def collect(stream, until):
    """Typed events from a stream until `until(event)` holds."""
    events = []
    w = watch.Watch()
    for event in w.stream(*stream[0], **stream[1]):
        if event["type"] == "BOOKMARK":
            continue
        obj = event["object"]
        check(isinstance(obj, client.V1ConfigMap), f"{event['type']} carries a typed V1ConfigMap")
        events.append((event["type"], obj.metadata.name, (obj.data or {}).get("v")))
        if until(event):
            w.stop()
    return events


# A stream from "now": writes made meanwhile by another thread arrive in order.
start = core.list_namespaced_config_map(ns).metadata.resource_version


def writer():
    core.create_namespaced_config_map(ns, cm("a", "1"))
    core.patch_namespaced_config_map("a", ns, {"data": {"v": "2"}})
    core.delete_namespaced_config_map("a", ns)


thread = threading.Thread(target=writer)
thread.start()
seen = collect(
    ((core.list_namespaced_config_map, ns), {"resource_version": start, "timeout_seconds": 10}),
    lambda e: e["type"] == "DELETED",
)
thread.join()
check(
    seen == [("ADDED", "a", "1"), ("MODIFIED", "a", "2"), ("DELETED", "a", "2")],
    f"ADDED, MODIFIED, DELETED in order: {seen}",
)

# Resume: a watch from the resourceVersion of a past write replays what followed it.
b = core.create_namespaced_config_map(ns, cm("b", "1"))
core.patch_namespaced_config_map("b", ns, {"data": {"v": "2"}})
core.patch_namespaced_config_map("b", ns, {"data": {"v": "3"}})
resumed = collect(
    (
        (core.list_namespaced_config_map, ns),
        {"resource_version": b.metadata.resource_version, "timeout_seconds": 10},
    ),
    lambda e: (e["object"].data or {}).get("v") == "3",
)
check(resumed == [("MODIFIED", "b", "2"), ("MODIFIED", "b", "3")], f"resumed after the create: {resumed}")

# Informer: list, then watch from the list's resourceVersion; a write made
# between the two arrives, and the listed objects are not repeated.
listed = core.list_namespaced_config_map(ns)
# Every namespace also holds kube-root-ca.crt, as on a real cluster.
names = [i.metadata.name for i in listed.items if i.metadata.name != "kube-root-ca.crt"]
check(names == ["b"], "the list holds the current objects")
core.create_namespaced_config_map(ns, cm("c", "1"))
after = collect(
    (
        (core.list_namespaced_config_map, ns),
        {"resource_version": listed.metadata.resource_version, "timeout_seconds": 10},
    ),
    lambda e: e["object"].metadata.name == "c",
)
check(after == [("ADDED", "c", "1")], f"the watch continues the list exactly: {after}")

# A watch on all namespaces with a label selector, bookmarks allowed (allow_watch_bookmarks=True).
core.create_namespaced_config_map(
    ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="labelled", labels={"pick": "me"}))
)
picked = collect(
    (
        (core.list_config_map_for_all_namespaces,),
        {"label_selector": "pick=me", "allow_watch_bookmarks": True, "timeout_seconds": 10},
    ),
    lambda e: e["object"].metadata.name == "labelled",
)
check(picked == [("ADDED", "labelled", None)], f"a selector-filtered watch of all namespaces: {picked}")
# The client's own SharedInformer: it lists, then watches from the list's
# resourceVersion, keeping a cache and calling handlers.
shared = informer.SharedInformer(core.list_namespaced_config_map, namespace=ns)
adds, deletes = [], []
shared.add_event_handler(informer.ADDED, lambda obj: adds.append(obj.metadata.name))
shared.add_event_handler(informer.DELETED, lambda obj: deletes.append(obj.metadata.name))
shared.start()
try:
    eventually("the informer caches the listed objects", lambda: {"b", "c", "labelled"} <= set(adds))
    core.create_namespaced_config_map(ns, cm("d", "1"))
    eventually("the informer sees a create", lambda: "d" in adds)
    core.delete_namespaced_config_map("b", ns)
    eventually("the informer sees a delete", lambda: "b" in deletes)
    keys = sorted(o.metadata.name for o in shared.cache.list() if o.metadata.name != "kube-root-ca.crt")
    check(keys == ["c", "d", "labelled"], f"the informer's cache follows the server: {keys}")
finally:
    shared.stop()
print("watch: all checks passed")
