"""Signing in with a token, a refused token, and signing out (docs/session.md)."""

import re

from playwright.sync_api import expect

from conftest import axe_check, screenshot, sign_in

HOME = re.compile(r"^http://[^/]+/(\?.*)?$")
LOGIN = re.compile(r"^http://[^/]+/login([?#].*)?$")


def token_field(page):
    return page.locator('input[type="password"], input[name="token"], #token').first


def signed_in(page) -> int:
    """The session cookie's standing, as the page's own requests would see it."""
    return page.request.get("/api/v1/session").status


def test_the_login_page_signs_in_with_a_pasted_token_and_lands_on_the_apps(page, admin_token):
    page.goto("/login")
    field = token_field(page)
    expect(field).to_be_visible()
    field.fill(admin_token)
    page.get_by_role("button", name=re.compile(r"sign in", re.I)).click()
    page.wait_for_url(HOME)
    assert signed_in(page) == 200
    who = page.request.get("/api/v1/session").json()
    assert who["loggedIn"] and who["role"] == "admin", who


def test_the_link_tether_up_prints_signs_in_and_leaves_no_token_in_the_address_bar(page, admin_token):
    sign_in(page, admin_token)
    assert "token" not in page.url
    assert admin_token not in page.evaluate("location.href + document.referrer")
    assert signed_in(page) == 200


def test_a_wrong_token_is_refused_with_a_message_on_the_login_page(page, api):
    refused = api("POST", "/api/v1/session", token=None, json={"token": "tether_not-a-token"})
    assert refused.status == 401, refused
    page.goto("/login")
    field = token_field(page)
    field.fill("tether_not-a-token")
    page.get_by_role("button", name=re.compile(r"sign in", re.I)).click()
    # The page stays, says why, and still offers the field.
    expect(page.get_by_text(re.compile(r"not signed in|refused|invalid|unknown|expired", re.I))
           .first).to_be_visible()
    assert LOGIN.match(page.url), page.url
    expect(token_field(page)).to_be_visible()
    assert signed_in(page) == 401


def test_signing_out_ends_the_session_and_the_pages_send_you_to_login(logged_in_page):
    page = logged_in_page
    assert signed_in(page) == 200
    page.get_by_role("button", name=re.compile(r"sign out|log out", re.I)).or_(
        page.get_by_role("link", name=re.compile(r"sign out|log out", re.I))).first.click()
    page.wait_for_url(LOGIN)
    assert signed_in(page) == 401
    # A page opened afterwards goes to the login page instead of showing anything.
    page.goto("/")
    page.wait_for_url(LOGIN)


def test_the_login_page_is_accessible(page):
    page.goto("/login")
    expect(token_field(page)).to_be_visible()
    screenshot(page, "login")
    axe_check(page, "login")
    # And in the dark theme, which follows the system setting.
    page.emulate_media(color_scheme="dark")
    screenshot(page, "login-dark")
    axe_check(page, "login-dark")


def test_sign_in_returns_to_the_page_asked_for_and_never_to_another_site(page, admin_token):
    # A page opened without a session goes to sign in, then back to itself.
    page.goto("/audit?kind=drift")
    page.wait_for_url(re.compile(r"/login\?next="))
    token_field(page).fill(admin_token)
    page.get_by_role("button", name=re.compile(r"sign in", re.I)).click()
    page.wait_for_url(re.compile(r"^http://[^/]+/audit\?kind=drift$"))
    # A `next` that the browser would read as another site (a tab is dropped
    # from URLs, making "/\t/evil.example" into "//evil.example") lands on `/`.
    for evil in ("%2F%09%2Fevil.example", "%2F%2Fevil.example", "https%3A%2F%2Fevil.example%2F"):
        page.goto(f"/login?next={evil}#token={admin_token}")
        page.wait_for_url(HOME)
