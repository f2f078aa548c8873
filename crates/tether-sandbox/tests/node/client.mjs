// The official JavaScript client (@kubernetes/client-node), driven as its users
// drive it: the kubeconfig file the Rust harness writes (argv[2]), objects
// without kind, CRUD, patches, lists with selectors and paging, a Watch, an
// informer (list then watch), workloads, Events of both groups, and
// ApiException codes with their Status bodies. argv[3] is the installed
// package's directory (under .tools/node, where scripts/install-tools.sh puts it).
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const k8s = await import(pathToFileURL(join(process.argv[3], 'dist/index.js')).href);

const kc = new k8s.KubeConfig();
kc.loadFromFile(process.argv[2]);
// This client refuses plain HTTP unless TLS checks are off for that cluster,
// as its users do for a local HTTP server; an HTTPS server is used as written.
kc.clusters = kc.clusters.map((c) => (c.server.startsWith('http:') ? { ...c, skipTLSVerify: true } : c));
const core = kc.makeApiClient(k8s.CoreV1Api);
const apps = kc.makeApiClient(k8s.AppsV1Api);
const eventsApi = kc.makeApiClient(k8s.EventsV1Api);

function check(condition, what) {
  if (!condition) throw new Error(`check failed: ${what}`);
  console.log(`ok: ${what}`);
}

async function eventually(what, probe, timeoutMs = 20000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) {
      console.log(`ok: ${what}`);
      return value;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function failure(promise) {
  try {
    await promise;
  } catch (e) {
    if (!(e instanceof k8s.ApiException)) throw e;
    const status = typeof e.body === 'string' ? JSON.parse(e.body) : e.body;
    check(status.kind === 'Status' && status.code === e.code, `${e.code} carries a Status with its code`);
    return [e.code, status];
  }
  throw new Error('the call should have failed');
}

const ns = `node-${Date.now().toString(36)}`;
await core.createNamespace({ body: { metadata: { name: ns } } });

// CRUD without kind.
const created = await core.createNamespacedConfigMap({
  namespace: ns,
  body: { metadata: { name: 'settings', labels: { app: 'web' } }, data: { mode: 'fast' } },
});
check(created.kind === 'ConfigMap' && created.apiVersion === 'v1', 'create answers a ConfigMap');
const got = await core.readNamespacedConfigMap({ name: 'settings', namespace: ns });
got.data.mode = 'slow';
const replaced = await core.replaceNamespacedConfigMap({ name: 'settings', namespace: ns, body: got });
check(replaced.data.mode === 'slow', 'replace');
const patched = await core.patchNamespacedConfigMap(
  { name: 'settings', namespace: ns, body: { data: { extra: '1' } } },
  k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
);
check(patched.data.extra === '1', 'merge patch');
const jsonPatched = await core.patchNamespacedConfigMap({
  name: 'settings',
  namespace: ns,
  body: [{ op: 'remove', path: '/data/extra' }],
});
check(jsonPatched.data.extra === undefined, 'JSON patch (the default)');
const applied = await core.patchNamespacedConfigMap(
  {
    name: 'settings',
    namespace: ns,
    body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings' }, data: { mode: 'applied' } },
    fieldManager: 'node-apply',
    force: true,
  },
  k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.ServerSideApply),
);
check(applied.data.mode === 'applied', 'server-side apply with force');

// Lists: selectors and paging.
for (let i = 0; i < 5; i++) {
  await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: `page-${i}`, labels: { app: 'paged' } } } });
}
const names = [];
let token;
let pages = 0;
do {
  const page = await core.listNamespacedConfigMap({ namespace: ns, labelSelector: 'app=paged', limit: 2, _continue: token });
  pages++;
  names.push(...page.items.map((i) => i.metadata.name));
  token = page.metadata._continue;
} while (token);
check(pages === 3 && names.join() === 'page-0,page-1,page-2,page-3,page-4', 'paging with limit and continue');

// A watch from a resourceVersion sees later writes in order.
const start = (await core.listNamespacedConfigMap({ namespace: ns })).metadata.resourceVersion;
const seen = [];
const watcher = new k8s.Watch(kc);
const watchDone = new Promise((resolve, reject) => {
  watcher
    .watch(
      `/api/v1/namespaces/${ns}/configmaps`,
      { resourceVersion: start, allowWatchBookmarks: true },
      (type, obj) => {
        if (type === 'BOOKMARK') return;
        seen.push(`${type} ${obj.metadata.name}`);
        if (type === 'DELETED') resolve();
      },
      (err) => (err ? reject(err) : resolve()),
    )
    .then((req) => watchDone.then(() => req.abort()))
    .catch(reject);
});
await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'w' } } });
await core.deleteNamespacedConfigMap({ name: 'w', namespace: ns });
await watchDone;
check(seen.join() === 'ADDED w,DELETED w', `a watch sees ADDED then DELETED: ${seen}`);

// An informer: list, then watch from the list's resourceVersion.
const informer = k8s.makeInformer(kc, `/api/v1/namespaces/${ns}/configmaps`, () =>
  core.listNamespacedConfigMap({ namespace: ns }),
);
const added = new Set();
informer.on('add', (obj) => added.add(obj.metadata.name));
await informer.start();
await eventually('the informer lists the existing objects', () => added.has('settings') && added.has('page-4'));
await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'later' } } });
await eventually('the informer sees a later create', () => added.has('later'));
check(informer.get('later', ns) !== undefined, 'the informer cache holds it');
await informer.stop();

// Workloads and Pods.
const labels = { app: 'web' };
const template = { metadata: { labels }, spec: { containers: [{ name: 'web', image: 'nginx:1.27' }] } };
await apps.createNamespacedDeployment({
  namespace: ns,
  body: { metadata: { name: 'web' }, spec: { replicas: 2, selector: { matchLabels: labels }, template } },
});
await eventually('the Deployment becomes available', async () => {
  const d = await apps.readNamespacedDeploymentStatus({ name: 'web', namespace: ns });
  return d.status.availableReplicas === 2;
});
const ds = await apps.createNamespacedDaemonSet({
  namespace: ns,
  body: { metadata: { name: 'agent' }, spec: { selector: { matchLabels: labels }, template } },
});
check(ds.status.numberMisscheduled === 0, 'a DaemonSet status has its counters');
const pod = await core.createNamespacedPod({ namespace: ns, body: { metadata: { name: 'solo' }, spec: template.spec } });
check(pod.status.phase === 'Pending' && pod.status.qosClass === 'BestEffort', 'a new Pod is Pending with its QoS class');

// Events written through events.k8s.io read as core Events.
await eventsApi.createNamespacedEvent({
  namespace: ns,
  body: {
    metadata: { name: 'web.1' },
    eventTime: new Date('2026-01-01T00:00:00Z'),
    reportingController: 'example.com/tester',
    reportingInstance: 'tester-1',
    action: 'Testing',
    reason: 'Tested',
    type: 'Normal',
    note: 'from node',
    regarding: { kind: 'Pod', name: 'solo', namespace: ns },
  },
});
const coreEvents = await core.listNamespacedEvent({ namespace: ns, fieldSelector: 'involvedObject.name=solo' });
check(coreEvents.items.some((e) => e.message === 'from node'), 'the events.k8s.io Event lists as a core Event');

// Errors and conflicts.
let [code, status] = await failure(core.readNamespacedConfigMap({ name: 'missing', namespace: ns }));
check(code === 404 && status.reason === 'NotFound', '404 NotFound');
[code, status] = await failure(
  core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'settings' } } }),
);
check(code === 409 && status.reason === 'AlreadyExists', '409 AlreadyExists');
[code, status] = await failure(core.replaceNamespacedConfigMap({ name: 'settings', namespace: ns, body: got }));
check(code === 409 && status.reason === 'Conflict', '409 Conflict on a stale resourceVersion');
[code, status] = await failure(
  core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'Bad_Name' } } }),
);
check(code === 422 && status.details.causes[0].field === 'metadata.name', '422 Invalid');
console.log('node client: all checks passed');
