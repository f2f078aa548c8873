"""What every script shares: the client configured from the kubeconfig file the
Rust harness writes (its path is the first argument; never a hard-coded URL, so
TLS, tokens and the CA come from the kubeconfig as for any user), a fresh
namespace, and checks that say what they expected."""

import sys
import time
import uuid

from kubernetes import client, config


def api_client():
    if len(sys.argv) < 2:
        sys.exit("usage: script.py KUBECONFIG")
    config.load_kube_config(config_file=sys.argv[1])
    return client.ApiClient()


def namespace(core, prefix):
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    return name


def check(condition, what):
    if not condition:
        raise AssertionError(what)
    print(f"ok: {what}")


def eventually(what, probe, timeout=20.0):
    """Polls `probe` until it returns a truthy value; fails naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            print(f"ok: {what}")
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)
