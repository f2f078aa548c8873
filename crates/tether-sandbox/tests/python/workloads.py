"""Pods and workloads read into the client's typed models. The models refuse
a missing required field (a DaemonSet status without its counters, an HPA
status without desiredReplicas), so reading them at all is the first check."""

from kubernetes import client

from harness import api_client, check, eventually, namespace

api = api_client()
core = client.CoreV1Api(api)
apps = client.AppsV1Api(api)
batch = client.BatchV1Api(api)
autoscaling = client.AutoscalingV2Api(api)
ns = namespace(core, "work")

labels = {"app": "web"}


def container(limits=None):
    resources = client.V1ResourceRequirements(limits=limits) if limits else None
    return client.V1Container(name="web", image="nginx:1.27", resources=resources)


def template(restart="Always"):
    return client.V1PodTemplateSpec(
        metadata=client.V1ObjectMeta(labels=labels),
        spec=client.V1PodSpec(containers=[container()], restart_policy=restart),
    )


selector = client.V1LabelSelector(match_labels=labels)

# A Pod: Pending with its QoS class at once, Running later; every read is typed.
pod = core.create_namespaced_pod(
    ns,
    client.V1Pod(
        metadata=client.V1ObjectMeta(name="solo"),
        spec=client.V1PodSpec(containers=[container({"cpu": "100m", "memory": "64Mi"})]),
    ),
)
check(pod.status.phase == "Pending", "a new Pod is Pending")
check(pod.status.qos_class == "Guaranteed", "limits alone make a Guaranteed Pod (requests default to them)")
check(pod.spec.containers[0].resources.requests == {"cpu": "100m", "memory": "64Mi"}, "requests default to limits")
eventually(
    "the Pod runs",
    lambda: core.read_namespaced_pod_status("solo", ns).status.phase == "Running",
)
best_effort = core.create_namespaced_pod(
    ns, client.V1Pod(metadata=client.V1ObjectMeta(name="free"), spec=client.V1PodSpec(containers=[container()]))
)
check(best_effort.status.qos_class == "BestEffort", "no resources make a BestEffort Pod")
check(len(core.list_namespaced_pod(ns).items) >= 2, "pods list into typed V1Pod items")

# Workloads: create typed, read typed (status included) until they settle.
deploy = apps.create_namespaced_deployment(
    ns,
    client.V1Deployment(
        metadata=client.V1ObjectMeta(name="web"),
        spec=client.V1DeploymentSpec(replicas=2, selector=selector, template=template()),
    ),
)
check(deploy.spec.strategy.type == "RollingUpdate", "the Deployment comes back defaulted")
eventually(
    "the Deployment becomes available",
    lambda: (apps.read_namespaced_deployment_status("web", ns).status.available_replicas or 0) == 2,
)
ds = apps.create_namespaced_daemon_set(
    ns,
    client.V1DaemonSet(
        metadata=client.V1ObjectMeta(name="agent"),
        spec=client.V1DaemonSetSpec(selector=selector, template=template()),
    ),
)
check(ds.status.number_misscheduled == 0, "a new DaemonSet's status has its counters")
check(apps.read_namespaced_daemon_set("agent", ns).status is not None, "the DaemonSet reads typed")
rs = apps.create_namespaced_replica_set(
    ns,
    client.V1ReplicaSet(
        metadata=client.V1ObjectMeta(name="set"),
        spec=client.V1ReplicaSetSpec(replicas=1, selector=selector, template=template()),
    ),
)
check(rs.status.replicas is not None, "a new ReplicaSet's status has replicas")
sts = apps.create_namespaced_stateful_set(
    ns,
    client.V1StatefulSet(
        metadata=client.V1ObjectMeta(name="db"),
        spec=client.V1StatefulSetSpec(
            replicas=1, service_name="db", selector=selector, template=template()
        ),
    ),
)
check(sts.status.replicas is not None, "a new StatefulSet's status has replicas")
for read in (apps.list_namespaced_daemon_set, apps.list_namespaced_replica_set, apps.list_namespaced_stateful_set):
    check(len(read(ns).items) == 1, f"{read.__name__} reads typed items")
job = batch.create_namespaced_job(
    ns,
    client.V1Job(
        metadata=client.V1ObjectMeta(name="once"),
        spec=client.V1JobSpec(template=template("Never")),
    ),
)
check(job.spec.selector is not None, "the Job's selector is generated")
eventually(
    "the Job succeeds",
    lambda: (batch.read_namespaced_job_status("once", ns).status.succeeded or 0) == 1,
)
hpa = autoscaling.create_namespaced_horizontal_pod_autoscaler(
    ns,
    client.V2HorizontalPodAutoscaler(
        metadata=client.V1ObjectMeta(name="web"),
        spec=client.V2HorizontalPodAutoscalerSpec(
            scale_target_ref=client.V2CrossVersionObjectReference(
                api_version="apps/v1", kind="Deployment", name="web"
            ),
            max_replicas=4,
        ),
    ),
)
check(hpa.status.desired_replicas == 0, "a new HPA's status has desiredReplicas")
check(hpa.status.current_replicas is None, "autoscaling/v2 omits a zero currentReplicas")
v1 = client.AutoscalingV1Api(api).read_namespaced_horizontal_pod_autoscaler("web", ns)
check(v1.status.current_replicas == 0, "the HPA reads at autoscaling/v1 too")

# Scale through the subresource, typed.
scale = apps.patch_namespaced_deployment_scale("web", ns, {"spec": {"replicas": 3}})
check(scale.spec.replicas == 3, "scale subresource")

# Events written through events.k8s.io/v1 are core Events too, and the other way round.
events = client.EventsV1Api(api)
events.create_namespaced_event(
    ns,
    client.EventsV1Event(
        metadata=client.V1ObjectMeta(name="web.1"),
        event_time="2026-01-01T00:00:00.000000Z",
        reporting_controller="example.com/tester",
        reporting_instance="tester-1",
        action="Testing",
        reason="Tested",
        type="Normal",
        note="written through events.k8s.io",
        regarding=client.V1ObjectReference(kind="Deployment", name="web", namespace=ns, api_version="apps/v1"),
    ),
)
core_event = core.read_namespaced_event("web.1", ns)
check(core_event.message == "written through events.k8s.io", "note reads as message")
check(core_event.involved_object.name == "web", "regarding reads as involvedObject")
check(core_event.reporting_component == "example.com/tester", "reportingController reads as reportingComponent")
check(core_event.reporting_instance == "tester-1", "reportingInstance is shared")
core.create_namespaced_event(
    ns,
    client.CoreV1Event(
        metadata=client.V1ObjectMeta(name="web.2"),
        involved_object=client.V1ObjectReference(kind="Pod", name="solo", namespace=ns),
        reason="Pulled",
        message="written through core v1",
        type="Normal",
        source=client.V1EventSource(component="kubelet", host="node-1"),
        count=3,
        # The client's EventsV1Event requires eventTime, which a real server
        # serves as null for core Events written without one.
        event_time="2026-01-01T00:00:01.000000Z",
    ),
)
new_style = events.read_namespaced_event("web.2", ns)
check(new_style.note == "written through core v1", "message reads as note")
check(new_style.regarding.name == "solo", "involvedObject reads as regarding")
check(new_style.deprecated_count == 3, "count reads as deprecatedCount")
check(new_style.deprecated_source.host == "node-1", "source reads as deprecatedSource")
picked = events.list_namespaced_event(ns, field_selector="regarding.name=solo")
check([e.metadata.name for e in picked.items] == ["web.2"], "events.k8s.io field selectors name its own fields")
check(
    {e.metadata.name for e in events.list_namespaced_event(ns).items} >= {"web.1", "web.2"},
    "both Events list through events.k8s.io",
)
print("workloads: all checks passed")
