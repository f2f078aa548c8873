// The sign-in page: take the token from the URL's fragment (never sent to a
// server, so it reaches no log), forget the fragment, post the token to
// /api/v1/session (which sets an HttpOnly cookie), and go where the user was
// going. Without a fragment, or when the token is refused, ask for one.
import { api, safeNext } from "./common.js";

const status = document.getElementById("status");
const form = document.getElementById("form");
const input = document.getElementById("token");
const next = safeNext(new URLSearchParams(location.search).get("next"));

async function signIn(token) {
  status.textContent = "Signing in…";
  try {
    await api("/api/v1/session", { method: "POST", body: { token }, onUnauthorized: "throw" });
    location.replace(next);
  } catch (e) {
    fail(e.message);
  }
}

function fail(message) {
  status.textContent = "Not signed in: " + message;
  form.hidden = false;
  input.focus();
}

const token = new URLSearchParams(location.hash.slice(1)).get("token");
// The token must not stay in the address bar or the history.
if (location.hash) history.replaceState(null, "", location.pathname + location.search);
form.addEventListener("submit", (ev) => {
  ev.preventDefault();
  const t = input.value.trim();
  if (t) signIn(t);
});
if (token) {
  signIn(token);
} else {
  status.textContent = "Paste an API token to sign in.";
  form.hidden = false;
  input.focus();
}
document.getElementById("main").dataset.ready = "true";
performance.mark("tether:rendered");
