/*
 * The meeting page: sign in at the person's own homeserver (homeserver-signin.js), then trade
 * the OpenID token at Borough for a link to this room's conference.
 */
"use strict";

(() => {
  const { showStatus } = BoroughWidget;
  const config = JSON.parse(document.getElementById("meeting-config").textContent);
  // This page without its query: where SSO sends the person back, and what history keeps.
  const pageUrl = window.location.origin + window.location.pathname;

  BoroughSignIn.start({
    homeserver: config.homeserver,
    serverName: config.server_name,
    deviceName: "Borough meeting page",
    returnUrl: pageUrl,
    failure: "Could not join",
    useOpenId: async (openid) => {
      const meeting = await BoroughSignIn.call(`${window.location.pathname}/token`, {
        body: { openid_token: openid.access_token },
        where: "Borough",
      });
      showStatus(`Opening ${meeting.title}…`);
      window.location.assign(meeting.url);
    },
  });
})();
