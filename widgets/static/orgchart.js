/* The org chart: a unit's picture (its managers, its people, the teams below), an
   organisation's tree of units, and what a partnership joins. The picture is a nested list drawn as cards: links and
   disclosure buttons in reading order, so Tab, Enter and Space work as anywhere, and the
   arrow keys open (→) and close (←) the focused team. Large teams arrive as counts and are
   read from the server when opened. */
"use strict";

(() => {
  const { connect, el, face, formatNumber, showStatus, widgetLink } = BoroughWidget;
  const trail = document.getElementById("trail");
  const heading = document.getElementById("heading");
  const summary = document.getElementById("summary");
  const chart = document.getElementById("chart");
  let api;
  let nextId = 0;

  const chartHref = (kind, key) => widgetLink(`/widgets/${kind}/${encodeURIComponent(key)}`);
  const unitApi = (key, rest) => `/widgets/api/units/${encodeURIComponent(key)}/${rest}`;

  const headcount = (n) => `${formatNumber(n)} ${n === 1 ? "person" : "people"}`;
  const teamcount = (n) => `${formatNumber(n)} ${n === 1 ? "team" : "teams"}`;
  const sr = (text) => el("span", { class: "visually-hidden" }, text);

  /* A face (their avatar or initials, from the widget server; decoration beside the name),
     the name leading to their profile page, and their job. */
  function personItem(person, isManager = false) {
    const title = person.job_title || (isManager ? "Manager" : null);
    return el("li", { class: isManager ? "person manager" : "person" },
      face(person, isManager ? 44 : 36),
      el("span", { class: "who" },
        el("a", { href: widgetLink(person.profile) }, person.display_name),
        title ? el("span", { class: "meta" }, title) : null));
  }

  const peopleList = (people, label, isManager = false) =>
    el("ul", { class: isManager ? "people managers" : "people", "aria-label": label },
      people.map((person) => personItem(person, isManager)));

  /* A disclosure button for `region`; `open` fills it the first time it opens. */
  function disclosure(label, region, expanded, open) {
    const id = region.id || (region.id = `part-${++nextId}`);
    region.hidden = !expanded;
    let filled = expanded;
    const button = el("button", {
      type: "button", class: "toggle", "aria-expanded": String(expanded), "aria-controls": id,
    }, label);
    button.addEventListener("click", () => setOpen(button, button.getAttribute("aria-expanded") !== "true"));
    button.fill = async () => {
      if (filled || !open) return;
      filled = true;
      button.setAttribute("aria-busy", "true");
      try {
        await open(region);
      } catch (error) {
        filled = false;
        showStatus(error.message, true);
      } finally {
        button.removeAttribute("aria-busy");
      }
    };
    return button;
  }

  async function setOpen(button, wanted) {
    const region = document.getElementById(button.getAttribute("aria-controls"));
    if (wanted) await button.fill();
    button.setAttribute("aria-expanded", String(wanted));
    region.hidden = !wanted;
  }

  /* → opens the focused team, ← closes it (or, on an open region's content, goes back to
     the button that opened it), as in a tree. */
  chart.addEventListener("keydown", (event) => {
    if (event.key !== "ArrowRight" && event.key !== "ArrowLeft") return;
    const target = event.target;
    if (target.matches("button.toggle")) {
      const open = target.getAttribute("aria-expanded") === "true";
      if (event.key === "ArrowRight" && !open) setOpen(target, true);
      else if (event.key === "ArrowLeft" && open) setOpen(target, false);
      else return;
      event.preventDefault();
    } else if (event.key === "ArrowLeft") {
      const region = target.closest("[id^='part-']");
      const owner = region && chart.querySelector(`[aria-controls="${region.id}"]`);
      if (owner) {
        event.preventDefault();
        owner.focus();
      }
    }
  });

  const level = (depth) => `h${Math.min(depth + 2, 6)}`;

  /* One unit as a list item: a card with its name, head count and managers, then (behind a
     button) its own people and its teams. `depth` 0 is the page's unit. */
  function unitNode(unit, depth) {
    const card = el("div", { class: "unit-card" },
      el(level(depth), { class: "unit-name" },
        depth === 0 ? unit.name : el("a", { href: chartHref("units", unit.key), "data-chart": "units" }, unit.name)),
      el("p", { class: "meta count" }, headcount(unit.total),
        unit.team_count ? ` · ${teamcount(unit.team_count)}` : ""),
      unit.managers.length ? peopleList(unit.managers, `Managers of ${unit.name}`, true) : null);
    const body = el("div", { class: "unit-body" });
    fillBody(body, unit, depth);
    // A collapsed team (people and teams not sent) says only how many it holds.
    const isOpen = depth === 0 || (unit.teams !== null && unit.people !== null);
    const hasMore = isOpen
      ? unit.people_count > 0 || unit.team_count > 0
      : unit.total > unit.managers.length || unit.team_count > 0;
    const toggle = depth > 0 && hasMore
      ? disclosure([sr(`${unit.name}: `), "Members"], body, isOpen,
        async (region) => {
          const answer = await api(unitApi(unit.key, "chart"));
          fillBody(region, answer.unit, depth);
        })
      : null;
    if (toggle) card.append(toggle);
    return el("li", { class: depth === 0 ? "unit root" : "unit" }, card, hasMore ? body : null);
  }

  /* A unit's own people and teams, into `body` (replacing what was there). */
  function fillBody(body, unit, depth) {
    const parts = [];
    if (unit.people !== null && unit.people.length) {
      parts.push(peopleList(unit.people, `People in ${unit.name}`));
    } else if (unit.people === null && unit.people_count > 0) {
      parts.push(morePeople(unit));
    }
    if (unit.teams !== null && unit.teams.length) {
      parts.push(el("ul", { class: "teams", "aria-label": `Teams in ${unit.name}` },
        unit.teams.map((team) => unitNode(team, depth + 1))));
    }
    body.replaceChildren(...parts);
  }

  /* A unit too large to list at once: its people come a page at a time. */
  function morePeople(unit) {
    const list = el("ul", { class: "people", "aria-label": `People in ${unit.name}` });
    const region = el("div", {}, list);
    let page = 0;
    const more = el("button", { type: "button", class: "link more" }, "Show more");
    const load = async () => {
      page += 1;
      const found = await api(unitApi(unit.key, `people?page=${page}`));
      list.append(...found.people.map((person) => personItem(person)));
      more.hidden = !found.has_more;
      if (found.has_more && !more.isConnected) region.append(more);
    };
    more.addEventListener("click", () => load().catch((error) => showStatus(error.message, true)));
    const button = disclosure([sr(`${unit.name}: `), `Show ${headcount(unit.people_count)}`], region, false, load);
    return el("div", { class: "collapsed-people" }, button, region);
  }

  const namesOf = (people) => people.map((p) => p.display_name).join(", ");

  /* The picture in words: who manages the unit, how many people, and its teams. */
  function describeUnit(unit) {
    const words = [`${unit.name} has ${headcount(unit.total)}.`];
    if (unit.managers.length) words.push(`Managed by ${namesOf(unit.managers)}.`);
    if (unit.people_count) words.push(`${headcount(unit.people_count)} work directly in it.`);
    if (unit.teams && unit.teams.length) {
      words.push(`${teamcount(unit.teams.length)} below: ` +
        unit.teams.map((t) => `${t.name} (${headcount(t.total)})`).join(", ") + ".");
    }
    return words.join(" ");
  }

  function showTrail(links) {
    trail.replaceChildren(el("ol", {}, links.map(([text, href], index) =>
      el("li", {}, href
        ? el("a", { href, "data-chart": href.includes("/organisations/") ? "organisations" : "units" }, text)
        : el("span", { "aria-current": "page" }, text),
        index < links.length - 1 ? el("span", { class: "sep", "aria-hidden": "true" }, " › ") : null))));
    trail.hidden = links.length < 2; // a trail of one place is the heading again
  }

  async function showUnit(key) {
    showStatus("Loading…");
    const answer = await api(unitApi(key, "chart"));
    performance.mark("orgchart:answered");
    const unit = answer.unit;
    document.title = `${unit.name} · Org chart · Borough`;
    heading.textContent = unit.name;
    showTrail([
      [answer.organisation.name, chartHref("organisations", answer.organisation.key)],
      ...answer.path.map((ref) => [ref.name, chartHref("units", ref.key)]),
      [unit.name, null],
    ]);
    summary.textContent = describeUnit(unit);
    chart.replaceChildren(el("ul", { class: "chart", "aria-label": `Org chart of ${unit.name}`, "aria-describedby": "summary" },
      unitNode(unit, 0)));
    showStatus("");
    performance.mark("orgchart:drawn"); // bench/pages.py times the chart by these marks
  }

  function treeNode(unit, depth) {
    const link = el("a", { href: chartHref("units", unit.key), "data-chart": "units" }, unit.name);
    const line = el("span", { class: "tree-line" }, link, el("span", { class: "meta" }, ` ${headcount(unit.total)}`));
    if (!unit.units.length) return el("li", {}, line);
    const below = el("ul", { "aria-label": `Units in ${unit.name}` }, unit.units.map((u) => treeNode(u, depth + 1)));
    const open = depth < 1;
    return el("li", {}, line,
      disclosure([sr(`${unit.name}: `), teamcount(unit.units.length)], below, open, null), below);
  }

  async function showOrganisation(key) {
    showStatus("Loading…");
    const org = await api(`/widgets/api/organisations/${encodeURIComponent(key)}`);
    document.title = `${org.name} · Org chart · Borough`;
    heading.textContent = org.name;
    showTrail([[org.name, null]]);
    const count = (units) => units.reduce((n, u) => n + 1 + count(u.units), 0);
    summary.textContent = `${org.name} has ${headcount(org.total)} in ${count(org.units)} units` +
      (org.units.length ? `; at the top: ${org.units.map((u) => `${u.name} (${headcount(u.total)})`).join(", ")}.` : ".");
    chart.replaceChildren(el("ul", { class: "tree", "aria-label": `Units of ${org.name}`, "aria-describedby": "summary" },
      org.units.map((u) => treeNode(u, 0))));
    showStatus("");
  }

  /* A partnership: the organisations and units it joins (each leading to its chart), and
     the people named in it, its leads first. */
  async function showPartnership(key) {
    showStatus("Loading…");
    const shown = await api(`/widgets/api/partnerships/${encodeURIComponent(key)}`);
    document.title = `${shown.name} · Partnership · Borough`;
    heading.textContent = shown.name;
    showTrail([[shown.name, null]]);
    const joins = [
      shown.organisations.length ? `${shown.organisations.length} ${shown.organisations.length === 1 ? "organisation" : "organisations"} (${shown.organisations.map((o) => o.name).join(", ")})` : null,
      shown.units.length ? `${shown.units.length} ${shown.units.length === 1 ? "unit" : "units"} (${shown.units.map((u) => `${u.name} of ${u.organisation}`).join(", ")})` : null,
      shown.people.length + shown.leads.length ? headcount(shown.people.length + shown.leads.length) + " named" : null,
    ].filter(Boolean);
    summary.textContent = `${shown.name} joins ${joins.length ? joins.join(", ") : "nobody yet"}: ${headcount(shown.total)} in all.` +
      (shown.leads.length ? ` Led by ${namesOf(shown.leads)}.` : "");
    const section = (title, ...content) => el("section", { class: "joined", "aria-label": title }, el("h2", {}, title), ...content);
    const parts = [];
    if (shown.description) parts.push(el("p", { class: "description" }, shown.description));
    if (shown.organisations.length) {
      parts.push(section("Organisations", el("ul", { class: "joined-list" }, shown.organisations.map((org) =>
        el("li", {}, el("a", { href: chartHref("organisations", org.key), "data-chart": "organisations" }, org.name),
          el("span", { class: "meta" }, ` ${headcount(org.total)}`))))));
    }
    if (shown.units.length) {
      parts.push(section("Units", el("ul", { class: "joined-list" }, shown.units.map((unit) =>
        el("li", {}, el("a", { href: chartHref("units", unit.key), "data-chart": "units" }, unit.name),
          el("span", { class: "meta" }, ` ${unit.organisation} · ${headcount(unit.total)}`))))));
    }
    if (shown.leads.length) parts.push(section("Leads", peopleList(shown.leads, `Leads of ${shown.name}`)));
    if (shown.people.length) parts.push(section("People", peopleList(shown.people, `People named in ${shown.name}`)));
    chart.replaceChildren(...parts);
    showStatus("");
  }

  const VIEWS = { units: showUnit, organisations: showOrganisation, partnerships: showPartnership };

  /* The page's own address says what to show: /widgets/KIND/KEY. */
  function show() {
    const [kind, key] = window.location.pathname.split("/").slice(-2);
    const view = VIEWS[kind];
    if (!view) return Promise.reject(new Error("This address names no unit, organisation or partnership."));
    return view(decodeURIComponent(key)).then(() => heading.focus());
  }

  /* Moving between charts stays on this page (no new handshake with Element). */
  document.addEventListener("click", (event) => {
    const link = event.target.closest("a[data-chart]");
    if (!link || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
    event.preventDefault();
    window.history.pushState({}, "", link.href);
    show().catch((error) => showStatus(error.message, true));
  });
  window.addEventListener("popstate", () => show().catch((error) => showStatus(error.message, true)));

  connect([])
    .then((session) => {
      api = session.api;
      document.body.dataset.viewer = session.userId;
      return show();
    })
    .catch((error) => showStatus(error.message, true));
})();
