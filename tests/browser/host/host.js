/*
 * A stand-in for Element: hosts one room widget with matrix-widget-api's ClientWidgetApi
 * (the class Element Web uses) and a WidgetDriver that approves capabilities and answers
 * get_openid with a real OpenID token the test obtained from Synapse.
 */
"use strict";

window.hostLog = [];

class TestDriver extends mxwidgets.WidgetDriver {
  constructor(openid) {
    super();
    this.openid = openid;
  }

  validateCapabilities(requested) {
    window.hostLog.push({ event: "capabilities_requested", capabilities: [...requested] });
    return Promise.resolve(requested);
  }

  askOpenID(observer) {
    window.hostLog.push({ event: "openid_asked" });
    observer.update({
      state: mxwidgets.OpenIDRequestState.Allowed,
      token: {
        access_token: this.openid.access_token,
        expires_in: this.openid.expires_in,
        matrix_server_name: this.openid.matrix_server_name,
        token_type: "Bearer",
      },
    });
  }
}

window.startWidget = ({ widgetId, templateUrl, roomId, userId, displayName, openid, theme, language }) => {
  const widget = new mxwidgets.Widget({
    id: widgetId,
    creatorUserId: userId,
    type: "m.custom",
    url: templateUrl,
    waitForIframeLoad: true,
    data: {},
  });
  // As Element does: fill the template, then add widgetId and parentUrl.
  const url = new URL(
    widget.getCompleteUrl({
      widgetRoomId: roomId,
      currentUserId: userId,
      userDisplayName: displayName,
      clientTheme: theme ?? undefined,
      clientLanguage: language ?? undefined,
    }),
  );
  url.searchParams.set("widgetId", widgetId);
  url.searchParams.set("parentUrl", window.location.href);
  const iframe = document.createElement("iframe");
  iframe.title = "Borough widget";
  iframe.allow = "clipboard-write";
  document.body.append(iframe); // ClientWidgetApi needs the iframe's contentWindow
  const api = new mxwidgets.ClientWidgetApi(widget, iframe, new TestDriver(openid));
  const state = document.getElementById("state");
  api.on("ready", () => {
    window.hostLog.push({ event: "ready" });
    state.textContent = "host: widget ready";
  });
  api.on("capabilitiesNotified", () => window.hostLog.push({ event: "capabilities_notified" }));
  api.on("error:preparing", (error) => window.hostLog.push({ event: "error", message: String(error) }));
  // What Element sends when the person changes theme or language while the widget is open
  // (element-web StopGapWidget: updateTheme({ name }) and updateLanguage(lang)).
  window.setWidgetTheme = (name) => api.updateTheme({ name });
  window.setWidgetLanguage = (lang) => api.updateLanguage(lang);
  iframe.src = url.toString();
  window.hostLog.push({ event: "iframe", url: url.toString() });
};
