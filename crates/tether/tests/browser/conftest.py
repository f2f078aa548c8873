"""Fixtures for the dashboard's browser tests.

One real `tether up` per session (binary from $TETHER_BIN: sandbox cluster, agent, demo Git
repository, API), shared by every test; one headless Chromium per session (Debian's, by its
path: Playwright never downloads a browser); a fresh browser context per test.

Run through `cargo nextest run -p tether --test dashboard` (crates/tether/tests/dashboard.rs),
which builds the binary and sets TETHER_BIN and PATH. By hand:

    TETHER_BIN=target/debug/tether PATH=$PWD/.tools/bin:$PATH \
        .tools/python/bin/python -m pytest -x -q crates/tether/tests/browser

Set TETHER_BROWSER_KEEP=1 to keep the state directory (logs, kubeconfig, demo repository).
"""

from __future__ import annotations

import json as jsonlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[4]
ARTIFACTS = REPO / "target" / "browser-artifacts"
AXE = REPO / ".tools" / "node" / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = os.environ.get("TETHER_CHROMIUM", "/usr/bin/chromium")
DEMO_APPS = ("demo-plain", "demo-kustomize", "demo-helm")
APPS_NAMESPACE = "tether"
# How long `tether up` may take to serve and converge the demo apps on a loaded 2-core machine.
UP_TIMEOUT = float(os.environ.get("TETHER_BROWSER_UP_TIMEOUT", "240"))

# What the session's fixtures left for the terminal summary (log tails on failure, clean-up).
_SESSION: dict = {}


# ---------------------------------------------------------------------------------------------
# The API, from the test's side


@dataclass
class Response:
    status: int
    text: str
    headers: dict = field(default_factory=dict)

    @property
    def json(self):
        return jsonlib.loads(self.text) if self.text else None

    def __repr__(self) -> str:
        return f"Response({self.status}, {self.text[:300]!r})"


def http(method: str, url: str, token: str | None = None, json=None, headers=None,
         timeout: float = 30) -> Response:
    """One HTTP request; never raises for an HTTP status (the caller checks it)."""
    body = None
    hdrs = dict(headers or {})
    if token:
        hdrs["Authorization"] = f"Bearer {token}"
    if json is not None:
        body = jsonlib.dumps(json).encode()
        hdrs.setdefault("Content-Type", "application/json")
    req = urllib.request.Request(url, data=body, method=method.upper(), headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return Response(r.status, r.read().decode("utf-8", "replace"), dict(r.headers))
    except urllib.error.HTTPError as e:
        return Response(e.code, e.read().decode("utf-8", "replace"), dict(e.headers))


def eventually(check, timeout: float = 30, interval: float = 0.25, what: str = "condition"):
    """Call `check` until it returns a truthy value (returned) or `timeout` passes."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            value = check()
            if value:
                return value
            last = value
        except AssertionError as e:  # a check may assert; keep its message for the failure
            last = e
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")
        time.sleep(interval)


class Tether:
    """A running `tether up` and the ways a test reaches it."""

    def __init__(self, binary: str, state: Path):
        self.binary = binary
        self.state = state
        self.kubeconfig = state / "kubeconfig"
        self.repo = state / "demo-repo"
        self.log = state / "tether.log"
        self.out = state / "up.out"
        self.base_url = ""
        self.token = ""
        self.proc: subprocess.Popen | None = None

    # -- processes --------------------------------------------------------------------------

    def env(self) -> dict:
        env = dict(os.environ)
        env["KUBECONFIG"] = str(self.kubeconfig)
        env["PATH"] = f"{REPO / '.tools' / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        env.pop("TETHER_NAMESPACE", None)
        env.pop("TETHER_STATE_DIR", None)
        return env

    def start(self, poll_interval: float = 1.0, rollout_delay_ms: int = 300):
        out = open(self.out, "wb")
        self.proc = subprocess.Popen(
            [self.binary, "up", "--state-dir", str(self.state), "--listen", "127.0.0.1:0",
             "--poll-interval", str(poll_interval), "--rollout-delay-ms", str(rollout_delay_ms),
             "--wait-timeout", str(int(UP_TIMEOUT))],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=self.env(),
            cwd=self.state,
        )
        out.close()
        deadline = time.monotonic() + UP_TIMEOUT
        # The sign-in link is printed once the demo apps converged (or --wait-timeout passed).
        while time.monotonic() < deadline:
            text = self.out.read_text(errors="replace")
            m = re.search(r"(http://[0-9.:\[\]a-z]+)/login#token=(\S+)", text)
            if m:
                self.base_url, self.token = m.group(1), m.group(2)
                break
            if self.proc.poll() is not None:
                raise RuntimeError(f"tether up exited with {self.proc.returncode}:\n{text}\n"
                                   f"{self.log_tail()}")
            time.sleep(0.2)
        else:
            raise RuntimeError(f"tether up printed no sign-in link in {UP_TIMEOUT}s:\n"
                               f"{self.out.read_text(errors='replace')}\n{self.log_tail()}")
        self.wait_healthy(DEMO_APPS, timeout=UP_TIMEOUT)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log_tail(self, lines: int = 80) -> str:
        try:
            text = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return f"(no log at {self.log})"
        return f"--- last {lines} lines of {self.log} ---\n" + "\n".join(text[-lines:])

    def _run(self, argv, input=None, check=True, timeout=60) -> subprocess.CompletedProcess:
        r = subprocess.run(argv, input=input, capture_output=True, text=True, env=self.env(),
                           timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError(f"{' '.join(map(str, argv))} exited {r.returncode}:\n"
                                 f"{r.stdout}\n{r.stderr}")
        return r

    def kubectl(self, *args, input: str | None = None, check: bool = True) -> str:
        """`kubectl ARGS` against the sandbox; its stdout."""
        return self._run(["kubectl", *map(str, args)], input=input, check=check).stdout

    def tether(self, *args, check: bool = True) -> subprocess.CompletedProcess:
        """`tether ARGS` against the sandbox (e.g. `token create viewer --role readonly`,
        whose stdout is the token). The agent's namespace is the default, `tether`."""
        return self._run([self.binary, *map(str, args)], check=check)

    def git_commit(self, path: Path | str | None, files: dict, message: str = "browser test",
                   author: str = "Browser Test <browser@tether.invalid>") -> str:
        """Write `files` ({relative path: text, or None to delete}) into the Git repository at
        `path` (default: the demo repository), commit them all, and return the commit."""
        repo = Path(path) if path else self.repo
        for rel, text in files.items():
            f = repo / rel
            if text is None:
                f.unlink(missing_ok=True)
            else:
                f.parent.mkdir(parents=True, exist_ok=True)
                f.write_text(text)
        name, email = re.match(r"(.*) <(.*)>", author).groups()
        git = ["git", "-C", str(repo), "-c", f"user.name={name}", "-c", f"user.email={email}"]
        self._run([*git, "add", "--all"])
        self._run([*git, "commit", "--quiet", "--allow-empty", "-m", message])
        return self._run([*git, "rev-parse", "HEAD"]).stdout.strip()

    # -- the API ----------------------------------------------------------------------------

    def api(self, method: str, path: str, token: str | None = "", json=None,
            headers=None) -> Response:
        """A request to the API (`path` from `/`, e.g. `/api/v1/applications`), with the admin
        token unless another (or None, for none) is given."""
        tok = self.token if token == "" else token
        return http(method, self.base_url + path, token=tok, json=json, headers=headers)

    def app_row(self, name: str, namespace: str = APPS_NAMESPACE) -> dict | None:
        r = self.api("GET", f"/api/v1/applications?namespace={namespace}&name={name}")
        assert r.status == 200, r
        items = r.json["items"]
        return items[0] if items else None

    def wait_healthy(self, names, timeout: float = 60, namespace: str = APPS_NAMESPACE):
        def done():
            r = self.api("GET", f"/api/v1/applications?namespace={namespace}&limit=1000")
            if r.status != 200:
                return False
            rows = {i["name"]: i for i in r.json["items"]}
            return all(n in rows and rows[n]["sync"] == "Synced"
                       and rows[n]["health"] == "Healthy" for n in names)
        eventually(done, timeout=timeout, interval=0.5, what=f"{', '.join(names)} Synced and Healthy")


@pytest.fixture(scope="session")
def tether_up() -> Tether:
    binary = os.environ.get("TETHER_BIN")
    if not binary:
        pytest.exit("TETHER_BIN is not set: run through `cargo nextest run -p tether --test "
                    "dashboard`, or set it to a built tether binary", returncode=2)
    state = Path(tempfile.mkdtemp(prefix="tether-browser-"))
    t = Tether(os.path.abspath(binary), state)
    _SESSION["tether"] = t
    try:
        t.start()
        yield t
    finally:
        t.stop()


# Short names for what tests use most.
@pytest.fixture(scope="session")
def base_url(tether_up) -> str:
    return tether_up.base_url


@pytest.fixture(scope="session")
def admin_token(tether_up) -> str:
    return tether_up.token


@pytest.fixture(scope="session")
def readonly_token(tether_up) -> str:
    """A readonly token named `viewer` (audit actor `token:viewer`), made as a user makes one."""
    return tether_up.tether("token", "create", "viewer", "--role", "readonly").stdout.strip()


@pytest.fixture(scope="session")
def kubeconfig(tether_up) -> Path:
    return tether_up.kubeconfig


@pytest.fixture(scope="session")
def demo_repo(tether_up) -> Path:
    return tether_up.repo


@pytest.fixture(scope="session")
def kubectl(tether_up):
    return tether_up.kubectl


@pytest.fixture(scope="session")
def git_commit(tether_up):
    return tether_up.git_commit


@pytest.fixture(scope="session")
def tether(tether_up):
    return tether_up.tether


@pytest.fixture(scope="session")
def api(tether_up):
    return tether_up.api


# ---------------------------------------------------------------------------------------------
# The browser


def chromium_args() -> list[str]:
    # As root, Chromium refuses to start without --no-sandbox; /dev/shm is small in containers.
    args = ["--disable-dev-shm-usage"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--no-sandbox")
    return args


def launch_chromium(playwright):
    if not os.access(CHROMIUM, os.X_OK):
        pytest.exit(f"no Chromium at {CHROMIUM}: run `make tools`", returncode=3)
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                      args=chromium_args())


@pytest.fixture(scope="session")
def playwright_instance():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright_instance):
    b = launch_chromium(playwright_instance)
    yield b
    b.close()


@pytest.fixture
def context(browser, base_url):
    ctx = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 800})
    ctx.set_default_timeout(15_000)
    yield ctx
    ctx.close()


class StreamTracker:
    """Which `/api/v1/stream` requests a page holds open, from the DevTools protocol's Network
    events: a request is open from `requestWillBeSent` until `loadingFinished` or
    `loadingFailed`, or until the main frame commits another document (the browser drops the
    old document's connections then without a `loadingFailed`). An EventSource's response never
    finishes while it is open, so it counts as open for as long as the browser keeps it."""

    def __init__(self, page):
        self.page = page
        self.open: dict[str, tuple[str, str]] = {}  # requestId -> (loaderId, url)
        self.opened = 0
        self.cdp = page.context.new_cdp_session(page)
        self.cdp.on("Network.requestWillBeSent", self._sent)
        self.cdp.on("Network.loadingFinished", self._done)
        self.cdp.on("Network.loadingFailed", self._done)
        self.cdp.on("Page.frameNavigated", self._navigated)
        self.cdp.send("Network.enable")
        self.cdp.send("Page.enable")

    def _sent(self, e):
        url = e["request"]["url"]
        path = url.split("?", 1)[0]
        if re.search(r"/api/v1/stream(/applications)?$", path) and e["requestId"] not in self.open:
            self.open[e["requestId"]] = (e.get("loaderId", ""), url)
            self.opened += 1

    def _done(self, e):
        self.open.pop(e["requestId"], None)

    def _navigated(self, e):
        frame = e["frame"]
        if frame.get("parentId"):
            return
        # A new document in the main frame: only its own requests can still be open. (A
        # same-document navigation, pushState, fires no frameNavigated.)
        self.open = {k: v for k, v in self.open.items() if v[0] == frame["loaderId"]}

    def count(self) -> int:
        # Let the browser's pending protocol events reach us before counting.
        self.cdp.send("Runtime.evaluate", {"expression": "0"})
        self.page.wait_for_timeout(100)
        return len(self.open)


@pytest.fixture
def page(context):
    p = context.new_page()
    p._tether_streams = StreamTracker(p)
    errors: list[str] = []
    p.on("pageerror", lambda e: errors.append(str(e)))
    p._tether_errors = errors
    yield p
    # An uncaught exception in our JavaScript is a bug even when the test's checks passed.
    assert not errors, f"uncaught JavaScript errors on the page: {errors}"


def sign_in(page, token: str):
    """Sign in as a user does: open `/login#token=…`; the page posts it and goes to `/`."""
    page.goto(f"/login#token={token}")
    page.wait_for_url(re.compile(r"^[^#]*://[^/]+/(\?.*)?$"))


@pytest.fixture
def logged_in_page(page, admin_token):
    sign_in(page, admin_token)
    return page


def wait_ready(page, timeout: float = 15_000):
    """Wait until the page rendered its first data (`main[data-ready="true"]`, the DOM contract)."""
    page.wait_for_selector('main#main[data-ready="true"]', state="attached", timeout=timeout)


def stream_connections(page) -> int:
    """How many `/api/v1/stream` connections the page holds open now."""
    return page._tether_streams.count()


def screenshot(page, name: str) -> Path:
    """A full-page screenshot at target/browser-artifacts/NAME.png (kept by CI)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def axe_check(page, name: str, disable: tuple[str, ...] = ()) -> list:
    """Run axe-core on the page; fail listing every `serious` or `critical` violation. The full
    result goes to target/browser-artifacts/NAME.axe.json. Returns the other violations."""
    if not AXE.exists():
        pytest.fail(f"axe-core is missing at {AXE}: run `make tools`")
    # Injected through the DevTools protocol, so the page's Content-Security-Policy (scripts
    # from its own origin only) does not block it.
    page.evaluate(AXE.read_text())
    result = page.evaluate(
        """async (disabled) => {
            const rules = {};
            for (const r of disabled) rules[r] = { enabled: false };
            return await axe.run(document, { rules, resultTypes: ["violations"] });
        }""",
        list(disable),
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / f"{name}.axe.json").write_text(jsonlib.dumps(result["violations"], indent=1))
    bad = [v for v in result["violations"] if v.get("impact") in ("serious", "critical")]
    if bad:
        lines = []
        for v in bad:
            targets = [" ".join(n["target"]) if isinstance(n["target"], list) else str(n["target"])
                       for n in v["nodes"][:5]]
            lines.append(f"- {v['impact']}: {v['id']}: {v['help']} ({v['helpUrl']})\n"
                         f"    on {', '.join(targets)}"
                         + (f" and {len(v['nodes']) - 5} more" if len(v["nodes"]) > 5 else ""))
        pytest.fail(f"axe-core found {len(bad)} serious or critical violation(s) on {name}:\n"
                    + "\n".join(lines), pytrace=False)
    return [v for v in result["violations"] if v not in bad]


# Helpers as fixtures too, for tests that prefer them that way.
@pytest.fixture
def helpers():
    return {"axe_check": axe_check, "screenshot": screenshot,
            "stream_connections": stream_connections, "wait_ready": wait_ready,
            "sign_in": sign_in, "eventually": eventually}


# ---------------------------------------------------------------------------------------------
# On failure: what `tether up` logged


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    t: Tether | None = _SESSION.get("tether")
    failed = terminalreporter.stats.get("failed") or terminalreporter.stats.get("error")
    if t and (failed or exitstatus not in (0, 5)):
        terminalreporter.section("tether up")
        try:
            terminalreporter.write_line(t.out.read_text(errors="replace")[-4000:])
        except OSError:
            pass
        terminalreporter.write_line(t.log_tail())
        terminalreporter.write_line(f"(state directory: {t.state})")


def pytest_unconfigure(config):
    t: Tether | None = _SESSION.get("tether")
    if t and not os.environ.get("TETHER_BROWSER_KEEP"):
        shutil.rmtree(t.state, ignore_errors=True)
