"""Errors as the client's users meet them: ApiException with the status code,
and the Status body (reason, code, details) that code reads."""

import json

from kubernetes import client
from kubernetes.client.rest import ApiException

from harness import api_client, check, namespace

api = api_client()
core = client.CoreV1Api(api)
apps = client.AppsV1Api(api)
ns = namespace(core, "errors")


def failure(call, *args, **kwargs):
    try:
        call(*args, **kwargs)
    except ApiException as e:
        status = json.loads(e.body)
        check(status["kind"] == "Status" and status["status"] == "Failure", f"{e.status} carries a Status")
        check(status["code"] == e.status, f"{e.status}: the Status names the same code")
        check(e.body.endswith("}\n"), f"{e.status}: the body ends with the encoder's newline")
        return e.status, status
    raise AssertionError(f"{call.__name__} should have failed")


code, status = failure(core.read_namespaced_config_map, "missing", ns)
check(code == 404 and status["reason"] == "NotFound", "404 NotFound")
check(status["message"] == 'configmaps "missing" not found', "the NotFound message")
check(status["details"] == {"name": "missing", "kind": "configmaps"}, "the NotFound details")

cm = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="once"), data={"a": "1"})
first = core.create_namespaced_config_map(ns, cm)
code, status = failure(core.create_namespaced_config_map, ns, cm)
check(code == 409 and status["reason"] == "AlreadyExists", "409 AlreadyExists")

# A stale resourceVersion: the replace conflicts.
core.patch_namespaced_config_map("once", ns, {"data": {"a": "2"}})
code, status = failure(core.replace_namespaced_config_map, "once", ns, first)
check(code == 409 and status["reason"] == "Conflict", "409 Conflict on a stale resourceVersion")
check("the object has been modified" in status["message"], "the Conflict message")

# Invalid objects: 422 with one cause per field.
bad = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="Not_Valid"))
code, status = failure(core.create_namespaced_config_map, ns, bad)
check(code == 422 and status["reason"] == "Invalid", "422 Invalid for a bad name")
check(status["details"]["causes"][0]["field"] == "metadata.name", "the cause names metadata.name")
deploy = client.V1Deployment(
    metadata=client.V1ObjectMeta(name="broken"),
    spec=client.V1DeploymentSpec(
        selector=client.V1LabelSelector(match_labels={"app": "a"}),
        template=client.V1PodTemplateSpec(
            metadata=client.V1ObjectMeta(labels={"app": "b"}),
            spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="x")]),
        ),
    ),
)
code, status = failure(apps.create_namespaced_deployment, ns, deploy)
check(code == 422 and status["details"]["kind"] == "Deployment", "422 for a selector that misses its template")

# A name of 100 characters is a valid DNS subdomain for a ConfigMap...
long = core.create_namespaced_config_map(ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="a" * 100)))
check(len(long.metadata.name) == 100, "a 100-character ConfigMap name is accepted")
# ...but not for a Service, whose names are DNS labels.
svc = client.V1Service(
    metadata=client.V1ObjectMeta(name="s" * 64),
    spec=client.V1ServiceSpec(ports=[client.V1ServicePort(port=80)]),
)
code, status = failure(core.create_namespaced_service, ns, svc)
check(code == 422 and "must be no more than 63 characters" in status["message"], "a 64-character Service name is refused")

# Wrong kind in a body: the real server's decode error.
code, status = failure(
    core.create_namespaced_config_map, ns, {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}}
)
check(code == 400 and "cannot be handled as a ConfigMap" in status["message"], f"400 for another kind: {status['message']}")
print("errors: all checks passed")
