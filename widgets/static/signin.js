/* Borough's sign-in page, for widget pages opened outside Element: sign in at the homeserver
   (homeserver-signin.js), open a Borough session with the OpenID token, go back to the page. */
"use strict";

(() => {
  const { openSessionWith, showStatus } = BoroughWidget;
  const config = JSON.parse(document.getElementById("signin-config").textContent);
  const returnUrl =
    `${window.location.origin}${window.location.pathname}?next=${encodeURIComponent(config.next)}`;

  BoroughSignIn.start({
    homeserver: config.homeserver,
    serverName: config.server_name,
    deviceName: "Borough sign-in page",
    returnUrl,
    failure: "Could not sign in",
    useOpenId: async (openid) => {
      await openSessionWith({
        access_token: openid.access_token,
        matrix_server_name: openid.matrix_server_name,
      });
      showStatus("Signed in; opening the page…");
      window.location.assign(config.next);  // checked by the server: one of Borough's pages
    },
  });
})();
