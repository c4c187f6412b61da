/*
 * The meeting page: sign in at the person's own homeserver (SSO or password, whichever it
 * offers), get an OpenID token, sign that session out again, and trade the token at Borough
 * for a link to this room's conference. Credentials go only to the homeserver, in the JSON
 * body of POST /login; Borough sees the OpenID token and nothing else.
 */
"use strict";

(() => {
  const { showStatus } = BoroughWidget;
  const config = JSON.parse(document.getElementById("meeting-config").textContent);
  const clientApi = `${config.homeserver}/_matrix/client/v3`;
  // This page without its query: where SSO sends the person back, and what history keeps.
  const pageUrl = window.location.origin + window.location.pathname;

  async function call(url, { body, token, where = config.server_name } = {}) {
    const headers = { "Content-Type": "application/json" };
    if (token) headers.Authorization = `Bearer ${token}`;
    const options = body === undefined ? { headers } : { method: "POST", headers, body: JSON.stringify(body) };
    let response;
    try {
      response = await fetch(url, options);
    } catch {
      throw new Error(`${where} cannot be reached just now; try again.`);
    }
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(data.error || `${where} answered HTTP ${response.status}.`);
    return data;
  }

  /* From a fresh homeserver session to the conference. The session is signed out as soon as
     the OpenID token is in hand (an OpenID token outlives it), before the page navigates
     away, so no device is left behind. */
  async function join(session) {
    let openid;
    try {
      const path = `/user/${encodeURIComponent(session.user_id)}/openid/request_token`;
      openid = await call(clientApi + path, { body: {}, token: session.access_token });
    } finally {
      await call(`${clientApi}/logout`, { body: {}, token: session.access_token }).catch(() => {});
    }
    const meeting = await call(`${window.location.pathname}/token`, {
      body: { openid_token: openid.access_token },
      where: "Borough",
    });
    showStatus(`Opening ${meeting.title}…`);
    window.location.assign(meeting.url);
  }

  async function signIn(credentials) {
    const session = await call(`${clientApi}/login`, {
      body: { ...credentials, initial_device_display_name: "Borough meeting page" },
    });
    await join(session);
  }

  async function passwordSignIn(event) {
    event.preventDefault();
    const form = event.target;
    showStatus("Checking…");
    try {
      await signIn({
        type: "m.login.password",
        identifier: { type: "m.id.user", user: form.elements.username.value },
        password: form.elements.password.value,
      });
    } catch (error) {
      showStatus(`Could not join: ${error.message}`, true);
    }
  }

  function ssoSignIn() {
    showStatus("Taking you to your organisation's sign-in…");
    const redirect = `${clientApi}/login/sso/redirect?redirectUrl=${encodeURIComponent(pageUrl)}`;
    window.location.assign(redirect);
  }

  async function offerSignIn() {
    const { flows = [] } = await call(`${clientApi}/login`);
    const types = new Set(flows.map((flow) => flow.type));
    if (types.has("m.login.sso")) {
      document.getElementById("sso-signin").addEventListener("click", ssoSignIn);
      document.getElementById("sso").hidden = false;
    }
    if (types.has("m.login.password")) {
      const form = document.getElementById("signin");
      form.addEventListener("submit", passwordSignIn);
      form.hidden = false;
    }
    if (!types.has("m.login.sso") && !types.has("m.login.password")) {
      throw new Error(`${config.server_name} offers no sign-in this page can use; join from Element.`);
    }
  }

  async function start() {
    const loginToken = new URLSearchParams(window.location.search).get("loginToken");
    // Nothing in the query belongs in history: a login token is a credential until used.
    if (window.location.search) window.history.replaceState(null, "", pageUrl);
    if (loginToken) {
      showStatus("Signing you in…");
      try {
        await signIn({ type: "m.login.token", token: loginToken });
        return;
      } catch (error) {
        showStatus(`Could not join: ${error.message}`, true);
      }
    }
    try {
      await offerSignIn();
    } catch (error) {
      showStatus(`Could not ask how to sign in: ${error.message}`, true);
    }
  }

  start();
})();
