/* The town hall widget: the channel's questions, most upvoted first, refreshed while live. */
"use strict";

(() => {
  const { connect, el, showStatus } = BoroughWidget;
  const REFRESH_MS = 3000;
  const room = new URLSearchParams(window.location.search).get("room") || "";
  let api;

  const votes = (n) => `${n} ${n === 1 ? "vote" : "votes"}`;

  const item = (question) =>
    el("li", { class: "question", "data-number": question.number },
      el("p", {}, question.text),
      el("p", { class: "meta" }, `#${question.number} · ${question.asked_by} · `,
        el("strong", {}, votes(question.votes))));

  async function show() {
    const answer = await api(`api/townhall?room=${encodeURIComponent(room)}`);
    const hall = answer.town_hall;
    const heading = document.getElementById("heading");
    if (!hall) {
      heading.textContent = `Town hall · ${answer.channel}`;
      showStatus("No town hall has been held here yet.");
      return false;
    }
    heading.textContent = `${hall.title}${hall.is_live ? "" : " (ended)"}`;
    document.getElementById("about").hidden = !hall.is_live;
    const open = hall.questions.filter((q) => !q.is_answered);
    const done = hall.questions.filter((q) => q.is_answered);
    document.getElementById("questions").replaceChildren(
      ...(open.length ? open.map(item) : [el("li", {}, "No open questions.")]));
    document.getElementById("answered").replaceChildren(...done.map(item));
    document.getElementById("answered-section").hidden = !done.length;
    showStatus("");
    return hall.is_live;
  }

  async function keepShowing() {
    try {
      if (await show()) setTimeout(keepShowing, REFRESH_MS);
    } catch (error) {
      showStatus(error.message, true);
    }
  }

  connect([])
    .then((session) => {
      api = session.api;
      document.body.dataset.viewer = session.userId;
      return keepShowing();
    })
    .catch((error) => showStatus(error.message, true));
})();
