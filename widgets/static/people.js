/* The people directory widget: what to start from, search, a unit's people (managers first);
   every name leads to the person's profile page. */
"use strict";

(() => {
  const {
    connect, el, formatNumber, latestOnly, personLink, showFailure, showStatus, widgetLink,
  } = BoroughWidget;
  const results = document.getElementById("results");
  const detail = document.getElementById("detail");
  let api;

  const unitButton = (unit) =>
    el("button", { type: "button", class: "link", onclick: () => showUnit(unit.key) }, unit.name);

  // A name leads to the person's profile page, inside the widget.
  function personItem(person) {
    return el("li", { class: "with-face" },
      personLink(person),
      person.job_title ? el("div", { class: "meta" }, person.job_title) : null);
  }

  const people = (list) => el("ul", { class: "list" }, list.map(personItem));

  /* The results show the answer to the last request, the opening view or a search, and the
     card the last unit opened: an answer that lands after a later request began (a search
     typed while the opening view loaded, an earlier search that was slower) is dropped. */
  const resultsTurn = latestOnly();
  const detailTurn = latestOnly();

  /* Before any search: where the viewer sits, who is new, and whom they looked up lately. */
  async function showOpening() {
    const start = await api("/widgets/api/directory/opening", { signal: resultsTurn() });
    const parts = [];
    const group = (id, title, list, ...more) => {
      if (!list.length) return;
      parts.push(el("section", { "aria-labelledby": id }, el("h2", { id }, title),
        people(list), ...more));
    };
    if (start.manager) group("manager-heading", "Your manager", [start.manager]);
    start.units.forEach((unit, i) => group(`unit-heading-${i}`, `Your unit: ${unit.name}`,
      unit.members, unit.people > unit.members.length + 1
        ? el("p", {}, unitButton(unit), el("span", { class: "meta" }, ` · ${headcount(unit.people)}`))
        : null));
    group("joiners-heading", "New this week", start.new_joiners);
    group("recent-heading", "Recently viewed", start.recently_viewed);
    if (!parts.length) {
      parts.push(el("p", { class: "meta" }, "Search for someone by name, job, unit or skill."));
    }
    results.replaceChildren(el("div", { class: "opening" }, parts));
  }

  const headcount = (n) => `${formatNumber(n)} ${n === 1 ? "person" : "people"}`;

  // A unit found by key or name: its name opens its page; the key is how `unit:` names it.
  const unitItem = (unit) =>
    el("li", {}, unitButton(unit), el("div", { class: "meta" }, `${unit.key} · ${headcount(unit.people)}`));

  async function search(query) {
    const signal = resultsTurn();
    detailTurn();  // this search clears the card: a unit still loading is not wanted now
    showStatus("Searching…");
    const found = await api(`api/people?q=${encodeURIComponent(query)}`, { signal });
    const units = found.units.length ? [
      el("h2", {}, `${formatNumber(found.units.length)} ${found.units.length === 1 ? "unit matches" : "units match"}`),
      el("ul", { class: "list" }, found.units.map(unitItem))] : [];
    // Past a thousand the count is not exact: say so, and how to narrow it.
    const heading = found.more_than_total
      ? [el("h2", {}, `More than ${formatNumber(found.total)} people match`),
        el("p", { class: "narrow" }, "Add a word, a unit or an organisation to narrow the search, e.g. ",
          el("code", {}, "unit:housing"), " or ", el("code", {}, "org:police"), ".")]
      : [el("h2", {}, `${formatNumber(found.total)} ${found.total === 1 ? "person matches" : "people match"}`)];
    results.replaceChildren(...units, ...heading, people(found.people));
    detail.replaceChildren();
    showStatus("");
  }

  async function showUnit(key) {
    const unit = await api(`api/units/${encodeURIComponent(key)}`, { signal: detailTurn() });
    detail.replaceChildren(el("article", { class: "card", "aria-label": unit.name },
      el("h2", { tabindex: "-1", id: "unit-heading" }, `${unit.name} (${formatNumber(unit.members.length)})`),
      el("p", {}, el("a", { href: widgetLink(`/widgets/units/${encodeURIComponent(unit.key)}`) },
        `Org chart of ${unit.name}`)),
      people(unit.members),
      unit.teams.length ? el("h2", {}, "Teams within") : null,
      unit.teams.length ? el("ul", { class: "list" }, unit.teams.map((team) =>
        el("li", {}, unitButton(team), el("span", { class: "meta" }, ` ${headcount(team.people)}`)))) : null));
    document.getElementById("unit-heading").focus();
  }

  const guarded = (action) => (...args) => action(...args).catch(showFailure);

  document.getElementById("search").addEventListener("submit", (event) => {
    event.preventDefault();
    const query = document.getElementById("q").value.trim();
    if (query) guarded(search)(query);
  });
  showUnit = guarded(showUnit);

  connect([])
    .then((session) => {
      api = session.api;
      document.dispatchEvent(new CustomEvent("borough-session", { detail: session }));
      document.getElementById("search").hidden = false;
      showStatus(`Signed in as ${session.userId}.`);
      document.body.dataset.viewer = session.userId;
      const initial = new URLSearchParams(window.location.search).get("q");
      if (initial) {
        document.getElementById("q").value = initial;
        return search(initial);
      }
      return showOpening();
    })
    .catch(showFailure);
})();
