/* The people directory widget: search, a profile card, a unit page (managers first). */
"use strict";

(() => {
  const { connect, el, showStatus } = BoroughWidget;
  const results = document.getElementById("results");
  const detail = document.getElementById("detail");
  let api;

  const personButton = (person) =>
    el("button", { type: "button", class: "link", onclick: () => showCard(person.user_id) },
      person.display_name);

  const unitButton = (unit) =>
    el("button", { type: "button", class: "link", onclick: () => showUnit(unit.key) }, unit.name);

  function personItem(person) {
    return el("li", {},
      personButton(person),
      person.job_title ? el("div", { class: "meta" }, person.job_title) : null);
  }

  const headcount = (n) => `${n} ${n === 1 ? "person" : "people"}`;

  // A unit found by key or name: its name opens its page; the key is how `unit:` names it.
  const unitItem = (unit) =>
    el("li", {}, unitButton(unit), el("div", { class: "meta" }, `${unit.key} · ${headcount(unit.people)}`));

  async function search(query) {
    showStatus("Searching…");
    const found = await api(`api/people?q=${encodeURIComponent(query)}`);
    const units = found.units.length ? [
      el("h2", {}, `${found.units.length} ${found.units.length === 1 ? "unit matches" : "units match"}`),
      el("ul", { class: "list" }, found.units.map(unitItem))] : [];
    results.replaceChildren(...units,
      el("h2", {}, `${found.total} ${found.total === 1 ? "person matches" : "people match"}`),
      el("ul", { class: "list" }, found.people.map(personItem)));
    detail.replaceChildren();
    showStatus("");
  }

  async function showCard(userId) {
    const card = await api(`api/people/${encodeURIComponent(userId)}`);
    const rows = [];
    const row = (term, value) => rows.push(el("dt", {}, term), el("dd", {}, value));
    if (card.job_title) row("Job", card.job_title);
    if (card.organisation) row("Organisation", card.organisation);
    if (card.units.length) row("Units", card.units.flatMap((u, i) => [i ? ", " : "", unitButton(u)]));
    if (card.manager) row("Manager", card.manager);
    if (card.email) row("Email", el("a", { href: `mailto:${card.email}` }, card.email));
    for (const field of card.fields) {
      row(field.label, Array.isArray(field.value) ? field.value.join(", ") : String(field.value));
    }
    row("Matrix", el("a", { href: `https://matrix.to/#/${encodeURIComponent(card.user_id)}`,
      target: "_blank", rel: "noopener" }, card.user_id));
    detail.replaceChildren(el("article", { class: "card", "aria-label": card.display_name },
      el("h2", { tabindex: "-1", id: "card-heading" }, card.display_name), el("dl", {}, rows)));
    document.getElementById("card-heading").focus();
  }

  async function showUnit(key) {
    const unit = await api(`api/units/${encodeURIComponent(key)}`);
    detail.replaceChildren(el("article", { class: "card", "aria-label": unit.name },
      el("h2", { tabindex: "-1", id: "unit-heading" }, `${unit.name} (${unit.members.length})`),
      el("ul", { class: "list" }, unit.members.map(personItem)),
      unit.teams.length ? el("h2", {}, "Teams within") : null,
      unit.teams.length ? el("ul", { class: "list" }, unit.teams.map((team) =>
        el("li", {}, unitButton(team), el("span", { class: "meta" }, ` ${headcount(team.people)}`)))) : null));
    document.getElementById("unit-heading").focus();
  }

  const guarded = (action) => (...args) =>
    action(...args).catch((error) => showStatus(error.message, true));

  document.getElementById("search").addEventListener("submit", (event) => {
    event.preventDefault();
    const query = document.getElementById("q").value.trim();
    if (query) guarded(search)(query);
  });
  showCard = guarded(showCard);
  showUnit = guarded(showUnit);

  connect([])
    .then((session) => {
      api = session.api;
      document.getElementById("search").hidden = false;
      showStatus(`Signed in as ${session.userId}.`);
      document.body.dataset.viewer = session.userId;
      const initial = new URLSearchParams(window.location.search).get("q");
      if (initial) {
        document.getElementById("q").value = initial;
        return search(initial);
      }
      return undefined;
    })
    .catch((error) => showStatus(error.message, true));
})();
