"""The harness itself: `stream_connections` counts what the browser really holds open."""

from conftest import stream_connections, sign_in


def test_stream_connections_counts_open_event_sources_and_forgets_closed_ones(page, admin_token):
    sign_in(page, admin_token)
    base = stream_connections(page)
    page.evaluate("""() => {
        window.__a = new EventSource("/api/v1/stream");
        window.__b = new EventSource("/api/v1/stream?app=tether/demo-plain");
        return new Promise((ok) => { let n = 0; const one = () => { if (++n === 2) ok(); };
            __a.addEventListener("snapshot", one); __b.addEventListener("app", one); });
    }""")
    # Both streams sent their first event and stay open.
    assert stream_connections(page) == base + 2
    page.evaluate("() => window.__a.close()")
    assert stream_connections(page) == base + 1
    page.evaluate("() => window.__b.close()")
    assert stream_connections(page) == base
    # Leaving the page drops its streams too.
    page.evaluate("() => { window.__c = new EventSource('/api/v1/stream'); }")
    page.wait_for_function("() => window.__c.readyState === 1")
    assert stream_connections(page) == base + 1
    page.goto("/login")
    assert stream_connections(page) == 0


def test_readonly_token_is_made_with_the_cli_and_is_readonly(api, readonly_token):
    r = api("GET", "/api/v1/session", token=readonly_token)
    assert r.status == 200 and r.json["role"] == "readonly" and r.json["actor"] == "token:viewer", r
