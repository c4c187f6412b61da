/*
 * Borough's Matrix Widget API client: the widget half of the postMessage protocol, in plain JS.
 *
 * Why not matrix-widget-api's WidgetApi? Borough's pages need four actions (the handshake,
 * capabilities, get_openid, openid_credentials); this is ~150 readable lines with no build
 * step, and the browser test checks it against the real ClientWidgetApi that Element uses.
 *
 * Wire format (matrix-widget-api src/transport/PostmessageTransport.ts):
 *   request  {api, widgetId, requestId, action, data}
 *   response the same object with `response` added.
 * Element adds `widgetId` and `parentUrl` to the widget URL's query string.
 *
 * The server draws the page in the theme and language the widget URL names (widgets/pages.py);
 * when the person changes either in Element while the widget is open, Element sends
 * `theme_change` {name} and `language_change` {lang}, and the page follows here.
 */
"use strict";

const BoroughWidget = (() => {
  const API_VERSIONS = ["0.0.1", "0.0.2"];
  const TIMEOUT_MS = 10000;

  class WidgetClient {
    constructor(capabilities = []) {
      const query = new URLSearchParams(window.location.search);
      this.widgetId = query.get("widgetId");
      const parentUrl = query.get("parentUrl");
      this.parentOrigin = parentUrl ? new URL(parentUrl).origin : null;
      this.capabilities = capabilities;
      this.pending = new Map();
      this.openidWaiters = new Map();
      this.nextId = 0;
      let markReady;
      this.ready = new Promise((resolve) => (markReady = resolve));
      this.markReady = markReady;
      this.approved = [];
    }

    get isEmbedded() {
      return Boolean(this.widgetId && this.parentOrigin && window.parent !== window);
    }

    start() {
      if (!this.isEmbedded) {
        return Promise.reject(new Error("Open this page as a widget in Element."));
      }
      this.listen();
      // Tell the client which versions we speak; with waitForIframeLoad the client
      // starts the capability exchange itself once the iframe has loaded.
      this.send("supported_api_versions", {}).catch(() => {});
      return this.ready;
    }

    /* Answer the client's requests; a page reached by a link inside the widget does this
       and no more, because its session came with it (`storedSession`). */
    listen() {
      if (!this.listening) window.addEventListener("message", (event) => this.receive(event));
      this.listening = true;
    }

    receive(event) {
      if (event.source !== window.parent || event.origin !== this.parentOrigin) return;
      const message = event.data;
      if (!message || typeof message !== "object" || message.widgetId !== this.widgetId) return;
      if (message.api === "fromWidget" && message.response !== undefined) {
        const waiter = this.pending.get(message.requestId);
        if (!waiter) return;
        this.pending.delete(message.requestId);
        clearTimeout(waiter.timer);
        if (message.response && message.response.error) {
          waiter.reject(new Error(message.response.error.message || "the client refused"));
        } else {
          waiter.resolve(message.response);
        }
      } else if (message.api === "toWidget" && message.response === undefined) {
        this.reply(message, this.answer(message));
      }
    }

    answer(request) {
      switch (request.action) {
        case "supported_api_versions":
          return { supported_versions: API_VERSIONS };
        case "capabilities":
          return { capabilities: this.capabilities };
        case "notify_capabilities":
          this.approved = (request.data && request.data.approved) || [];
          this.markReady(this.approved);
          return {};
        case "openid_credentials": {
          const data = request.data || {};
          const waiter = this.openidWaiters.get(data.original_request_id);
          if (waiter) {
            this.openidWaiters.delete(data.original_request_id);
            settleOpenId(data, waiter.resolve, waiter.reject);
          }
          return {};
        }
        case "theme_change":
          applyTheme(request.data && request.data.name);
          return {};
        case "language_change":
          applyLanguage(request.data && request.data.lang);
          return {};
        default:
          // visibility, screenshot...: acknowledged, nothing to do.
          return {};
      }
    }

    reply(request, response) {
      window.parent.postMessage({ ...request, response }, this.parentOrigin);
    }

    send(action, data, requestId = `borough-${++this.nextId}`) {
      const request = { api: "fromWidget", widgetId: this.widgetId, requestId, action, data };
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          this.pending.delete(requestId);
          reject(new Error(`the client did not answer ${action}`));
        }, TIMEOUT_MS);
        this.pending.set(requestId, { resolve, reject, timer });
        window.parent.postMessage(request, this.parentOrigin);
      });
    }

    /* The viewer's OpenID credentials; the client may ask the person first. */
    async requestOpenId() {
      const requestId = `borough-${++this.nextId}`;
      const later = new Promise((resolve, reject) =>
        this.openidWaiters.set(requestId, { resolve, reject }),
      );
      const first = await this.send("get_openid", {}, requestId);
      if (first.state === "request") return later;
      this.openidWaiters.delete(requestId);
      return new Promise((resolve, reject) => settleOpenId(first, resolve, reject));
    }
  }

  function settleOpenId(data, resolve, reject) {
    if (data.state === "allowed" && data.access_token) {
      resolve({ access_token: data.access_token, matrix_server_name: data.matrix_server_name });
    } else {
      reject(new Error("You declined to confirm your identity, so Borough cannot show this."));
    }
  }

  /* Element's theme names -> Compound's theme classes (as widgets/pages.py THEMES); any other
     name (a custom theme) follows the system's setting. */
  const THEMES = {
    light: "light", dark: "dark", "light-high-contrast": "light-hc", "dark-high-contrast": "dark-hc",
  };

  function applyTheme(name) {
    const root = document.documentElement;
    for (const cls of [...root.classList]) if (cls.startsWith("cpd-theme-")) root.classList.remove(cls);
    if (Object.hasOwn(THEMES, name)) root.classList.add(`cpd-theme-${THEMES[name]}`);
    rememberInUrl("theme", name);
  }

  /* The page's own URL keeps Element's current choice, so a reload and the links
     widgetLink builds open in it too. */
  function rememberInUrl(name, value) {
    const url = new URL(window.location.href);
    url.searchParams.set(name, value);
    window.history.replaceState(window.history.state, "", url);
  }

  /* The page's language, if the browser knows it (else the page keeps its own). */
  function applyLanguage(lang) {
    const tag = String(lang || "").replace(/_/g, "-");
    try {
      if (!tag || Intl.DateTimeFormat.supportedLocalesOf([tag]).length === 0) return;
    } catch (error) {
      return; // not a language tag
    }
    document.documentElement.lang = tag;
    rememberInUrl("lang", tag);
    for (const time of document.querySelectorAll("time[datetime]")) {
      time.textContent = formatDateTime(time.getAttribute("datetime"));
    }
  }

  /* Dates and numbers in the page's language (<html lang>, Element's language in a widget). */
  const locale = () => document.documentElement.lang || undefined;
  const formatDateTime = (iso) =>
    new Date(iso).toLocaleString(locale(), { dateStyle: "medium", timeStyle: "short" });
  const formatNumber = (n) => new Intl.NumberFormat(locale()).format(n);

  const SESSION_STORE = "borough.session";
  /* Query parameters that belong to one page, not to the widget: dropped from its links. */
  const PAGE_PARAMS = ["q", "channel", "tag"];

  /* The session an earlier page of this widget opened, while it has a minute left, and
     only if the widget is still the same person's (Element fills `user` in the URL). */
  function storedSession() {
    try {
      const session = JSON.parse(window.sessionStorage.getItem(SESSION_STORE) || "null");
      const user = new URLSearchParams(window.location.search).get("user");
      if (!session || session.expiresAt - 60000 < Date.now()) return null;
      if (user && user !== session.user_id) return null;
      return session;
    } catch {
      return null;  // storage refused (a sandboxed frame): ask Element again
    }
  }

  function storeSession(session) {
    const stored = { ...session, expiresAt: Date.now() + session.expires_in * 1000 };
    try {
      window.sessionStorage.setItem(SESSION_STORE, JSON.stringify(stored));
    } catch {
      // Without storage each page asks Element for the viewer's identity itself.
    }
  }

  /* A Borough session for OpenID credentials ({access_token, matrix_server_name}), kept for
     the widget's other pages. */
  async function openSessionWith(credentials) {
    const answer = await fetch("/widgets/api/session", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(credentials),
    });
    const session = await answer.json();
    if (!answer.ok) throw new Error(session.error || "Borough could not check who you are.");
    storeSession(session);
    return session;
  }

  async function openSession(client) {
    await client.start();
    return openSessionWith(await client.requestOpenId());
  }

  /* Opened outside Element (a link from `!whois`, say): Borough's sign-in page, which
     comes back here signed in. */
  function signInElsewhere() {
    const here = window.location.pathname + window.location.search;
    window.location.assign(`/widgets/signin?next=${encodeURIComponent(here)}`);
    return new Promise(() => {});  // the page is going away
  }

  /* Handshake, OpenID, then a Borough session: returns a fetch that sends the session.
     A page opened from a link inside the widget reuses the session its first page opened,
     so following a name does not ask the person to confirm who they are again. */
  async function connect(capabilities = []) {
    const client = new WidgetClient(capabilities);
    let session = storedSession();
    if (session && client.isEmbedded) client.listen();
    if (!session && !client.isEmbedded && capabilities.length === 0) await signInElsewhere();
    if (!session) session = await openSession(client);
    // `signal` (from latestOnly) aborts a request a later one made stale: it then rejects
    // with an AbortError, even when its answer had already arrived.
    const api = async (path, { signal } = {}) => {
      const response = await fetch(path, {
        headers: { Authorization: `Bearer ${session.token}` },
        signal,
      });
      const body = await response.json();
      signal?.throwIfAborted();
      if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
      return body;
    };
    return { client, userId: session.user_id, api };
  }

  /* For a part of the page that shows the answer to the person's last request (search
     results, say): each call aborts the request before and gives the new one's AbortSignal,
     so an answer that lands after a later request began is never shown over it. */
  function latestOnly() {
    let current = null;
    return () => {
      current?.abort();
      current = new AbortController();
      return current.signal;
    };
  }


  /* A small DOM builder: text is always set as text, never parsed as HTML. */
  function el(tag, attributes = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) {
      if (value === null || value === undefined || value === false) continue;
      if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : value);
    }
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  /* A link to another page of this widget: it keeps the query Element gave (widget id,
     parent, theme and language), so the page there is still a widget. */
  function widgetLink(path) {
    const [base, query = ""] = path.split("?");
    const params = new URLSearchParams(window.location.search);
    for (const name of PAGE_PARAMS) params.delete(name);
    for (const [name, value] of new URLSearchParams(query)) params.set(name, value);
    const joined = params.toString();
    return joined ? `${base}?${joined}` : base;
  }

  /* A person's face: their avatar, or their initials (the server draws them). Beside their
     name it is decoration, so its text alternative is empty. */
  function face(person, size = 32) {
    return el("img", { class: "face", src: person.avatar, alt: "", width: size, height: size,
      loading: "lazy", decoding: "async" });
  }

  /* A person's name with their face, linking to their profile page. */
  function personLink(person, size = 32) {
    return el("a", { class: "person", href: widgetLink(person.profile) },
      face(person, size), el("span", {}, person.display_name));
  }

  function showStatus(message, isError = false) {
    const status = document.getElementById("status");
    status.textContent = message;
    status.classList.toggle("error", isError);
  }

  /* What went wrong, in the status line; a request that a later one replaced (latestOnly)
     is no failure to show. */
  function showFailure(error) {
    if (!(error instanceof DOMException && error.name === "AbortError")) {
      showStatus(error.message, true);
    }
  }

  return {
    WidgetClient, connect, el, face, openSessionWith, personLink, showStatus, widgetLink,
    formatDateTime, formatNumber, applyTheme, latestOnly, showFailure,
  };
})();
