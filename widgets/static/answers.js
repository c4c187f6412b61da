/* The directory widget's "Shared answers" tab: accepted answers (`!ask`, `!accept`) that the
   viewer may read, newest first, searchable. people.js announces the signed-in session. */
"use strict";

(() => {
  const { el, latestOnly, showFailure, showStatus } = BoroughWidget;
  const tabs = document.getElementById("tabs");
  const pane = document.getElementById("answers");
  const list = document.getElementById("answers-list");
  const peopleParts = [document.getElementById("search"), document.querySelector(".split")];
  // The list answers the last search, whichever answer lands last.
  const listTurn = latestOnly();
  let api;

  const item = (answer) =>
    el("li", {},
      el("a", { href: answer.link, target: "_blank", rel: "noopener" }, answer.question),
      el("blockquote", {}, answer.answer),
      el("div", { class: "meta" }, `${answer.answerer} answered ${answer.asker}`));

  async function load(query) {
    showStatus("Searching…");
    const found = await api(`api/answers?q=${encodeURIComponent(query)}`, { signal: listTurn() });
    pane.dataset.loaded = "yes";
    list.replaceChildren(...(found.answers.length ? found.answers.map(item)
      : [el("li", {}, query ? "No accepted answer matches." : "No accepted answers yet.")]));
    showStatus("");
  }

  const guarded = (action) => (...args) => action(...args).catch(showFailure);

  function choose(tab) {
    const answers = tab === "answers";
    for (const button of tabs.querySelectorAll("[role=tab]")) {
      button.setAttribute("aria-selected", String(button.dataset.tab === tab));
    }
    for (const part of peopleParts) part.hidden = answers;
    pane.hidden = !answers;
    if (answers && !pane.dataset.loaded) guarded(load)("");
  }

  for (const button of tabs.querySelectorAll("[role=tab]")) {
    button.addEventListener("click", () => choose(button.dataset.tab));
  }
  document.getElementById("answers-search").addEventListener("submit", (event) => {
    event.preventDefault();
    guarded(load)(document.getElementById("aq").value.trim());
  });
  document.addEventListener("borough-session", (event) => {
    api = event.detail.api;
    tabs.hidden = false;
  });
})();
