/*
 * Signing in at the person's own homeserver, for pages opened outside Element (the meeting
 * page, Borough's sign-in page): SSO or password, whichever it offers, then an OpenID token,
 * then that session is signed out again. Credentials go only to the homeserver, in the JSON
 * body of POST /login; Borough sees the OpenID token and nothing else.
 *
 * The page holds `#sso` (with `#sso-signin`) and a `#signin` form (username, password),
 * both hidden until the homeserver says it offers them.
 */
"use strict";

const BoroughSignIn = (() => {
  const { showStatus } = BoroughWidget;

  async function call(url, { body, token, where } = {}) {
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

  /* Offer the homeserver's sign-in; `useOpenId(openid)` gets the token once signed in.
     `returnUrl` is where SSO sends the person back (this page, without a login token);
     `failure` starts an error message ("Could not join"). */
  function start({ homeserver, serverName, deviceName, returnUrl, failure, useOpenId }) {
    const clientApi = `${homeserver}/_matrix/client/v3`;

    /* The session is signed out as soon as the OpenID token is in hand (an OpenID token
       outlives it), before the page moves on, so no device is left behind. */
    async function signIn(credentials) {
      const session = await call(`${clientApi}/login`, {
        body: { ...credentials, initial_device_display_name: deviceName },
        where: serverName,
      });
      let openid;
      try {
        const path = `/user/${encodeURIComponent(session.user_id)}/openid/request_token`;
        openid = await call(clientApi + path, { body: {}, token: session.access_token, where: serverName });
      } finally {
        await call(`${clientApi}/logout`, { body: {}, token: session.access_token, where: serverName })
          .catch(() => {});
      }
      await useOpenId(openid);
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
        showStatus(`${failure}: ${error.message}`, true);
      }
    }

    function ssoSignIn() {
      showStatus("Taking you to your organisation's sign-in…");
      const redirect = `${clientApi}/login/sso/redirect?redirectUrl=${encodeURIComponent(returnUrl)}`;
      window.location.assign(redirect);
    }

    async function offerSignIn() {
      const { flows = [] } = await call(`${clientApi}/login`, { where: serverName });
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
        throw new Error(`${serverName} offers no sign-in this page can use; use Element.`);
      }
    }

    return (async () => {
      const loginToken = new URLSearchParams(window.location.search).get("loginToken");
      // Nothing else in the query belongs in history: a login token is a credential until used.
      if (window.location.href !== returnUrl) window.history.replaceState(null, "", returnUrl);
      if (loginToken) {
        showStatus("Signing you in…");
        try {
          await signIn({ type: "m.login.token", token: loginToken });
          return;
        } catch (error) {
          showStatus(`${failure}: ${error.message}`, true);
        }
      }
      try {
        await offerSignIn();
      } catch (error) {
        showStatus(`Could not ask how to sign in: ${error.message}`, true);
      }
    })();
  }

  return { call, start };
})();
