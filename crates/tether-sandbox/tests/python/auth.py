"""Authentication and authorization as the client's users meet them: a
ServiceAccount token from the TokenRequest API used as a bearer token, RBAC that
allows it one namespace and refuses another with the real 403, access reviews
(what `kubectl auth can-i` asks), whoami, anonymous requests, and impersonation
through the admin."""

import json

from kubernetes import client
from kubernetes.client.rest import ApiException

from harness import api_client, check, namespace

admin = api_client()
core = client.CoreV1Api(admin)
rbac = client.RbacAuthorizationV1Api(admin)
home = namespace(core, "auth-home")
other = namespace(core, "auth-other")
user = f"system:serviceaccount:{home}:deployer"

core.create_namespaced_service_account(home, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="deployer")))
rbac.create_namespaced_role(home, client.V1Role(
    metadata=client.V1ObjectMeta(name="configmaps"),
    rules=[client.V1PolicyRule(api_groups=[""], resources=["configmaps"], verbs=["get", "list", "create"])],
))
rbac.create_namespaced_role_binding(home, client.V1RoleBinding(
    metadata=client.V1ObjectMeta(name="deployer-configmaps"),
    role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="Role", name="configmaps"),
    subjects=[client.RbacV1Subject(kind="ServiceAccount", name="deployer", namespace=home)],
))

request = client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=3600))
issued = core.create_namespaced_service_account_token("deployer", home, request)
token = issued.status.token
check(token.count(".") == 2, "the TokenRequest API returns a JWT")
check(issued.status.expiration_timestamp is not None, "the token has an expiry")


def client_with(bearer):
    """A client for the same server and CA, with another bearer token (or none)."""
    cfg = client.Configuration.get_default_copy()
    # The kubeconfig loader sets the admin's token and a hook that would put it back.
    cfg.refresh_api_key_hook = None
    cfg.api_key = {"BearerToken": f"Bearer {bearer}"} if bearer else {}
    return client.ApiClient(cfg)


def refused(call, *args, **kwargs):
    try:
        call(*args, **kwargs)
    except ApiException as e:
        return e.status, json.loads(e.body)
    raise AssertionError(f"{call.__name__} should have been refused")


sa = client_with(token)
sa_core = client.CoreV1Api(sa)
sa_core.create_namespaced_config_map(home, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="mine"), data={"a": "1"}))
check(sa_core.read_namespaced_config_map("mine", home).data == {"a": "1"}, "the ServiceAccount acts in its namespace")

code, status = refused(sa_core.list_namespaced_config_map, other)
check(code == 403 and status["reason"] == "Forbidden", "another namespace is 403 Forbidden")
check(
    status["message"]
    == f'configmaps is forbidden: User "{user}" cannot list resource "configmaps" in API group "" in the namespace "{other}"',
    "the 403 is worded as the real server words it",
)
check(status["details"] == {"kind": "configmaps"}, "the 403 names the resource")

code, status = refused(sa_core.delete_namespaced_config_map, "mine", home)
check(
    code == 403
    and status["message"]
    == f'configmaps "mine" is forbidden: User "{user}" cannot delete resource "configmaps" in API group "" in the namespace "{home}"',
    "a verb the Role lacks is refused by name",
)

sa_authz = client.AuthorizationV1Api(sa)


def can_i(verb, resource, ns):
    review = client.V1SelfSubjectAccessReview(spec=client.V1SelfSubjectAccessReviewSpec(
        resource_attributes=client.V1ResourceAttributes(namespace=ns, verb=verb, resource=resource)))
    return sa_authz.create_self_subject_access_review(review).status.allowed


check(can_i("create", "configmaps", home), "can-i create configmaps in its namespace: yes")
check(not can_i("create", "configmaps", other), "can-i create configmaps elsewhere: no")
check(not can_i("delete", "configmaps", home), "can-i delete configmaps: no")

rules = sa_authz.create_self_subject_rules_review(
    client.V1SelfSubjectRulesReview(spec=client.V1SelfSubjectRulesReviewSpec(namespace=home))).status
check(
    any("configmaps" in (r.resources or []) and set(r.verbs) == {"get", "list", "create"} for r in rules.resource_rules),
    "the rules review lists the Role's rule",
)

me = client.AuthenticationV1Api(sa).create_self_subject_review(client.V1SelfSubjectReview()).status.user_info
check(me.username == user, "whoami names the ServiceAccount")
check(f"system:serviceaccounts:{home}" in me.groups, "whoami lists the ServiceAccount's groups")

code, status = refused(client.CoreV1Api(client_with(None)).list_namespaced_config_map, home)
check(code == 401 and status["reason"] == "Unauthorized", "a request without a token is 401")
code, _ = refused(client.CoreV1Api(client_with(token[:-4] + "AAAA")).list_namespaced_config_map, home)
check(code == 401, "a token with a forged signature is 401")

# The admin may impersonate anyone; as the ServiceAccount, it gets the ServiceAccount's answers.
as_sa = client_with(client.Configuration.get_default_copy().api_key["BearerToken"].split(" ")[-1])
as_sa.set_default_header("Impersonate-User", user)
code, status = refused(client.CoreV1Api(as_sa).list_namespaced_config_map, other)
check(code == 403 and f'User "{user}"' in status["message"], "the admin impersonating the ServiceAccount gets its 403")
check(len(client.CoreV1Api(as_sa).list_namespaced_config_map(home).items) >= 1, "and its access to its namespace")

# The ServiceAccount itself may not impersonate.
sa_as_admin = client_with(token)
sa_as_admin.set_default_header("Impersonate-User", "kubernetes-admin")
code, status = refused(client.CoreV1Api(sa_as_admin).list_namespaced_config_map, other)
check(
    code == 403
    and status["message"] == f'users "kubernetes-admin" is forbidden: User "{user}" cannot impersonate resource "users" in API group "" at the cluster scope',
    "impersonation without the impersonate verb is refused as the real server refuses it",
)

print("all checks passed")
