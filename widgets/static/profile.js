/* A person's profile page: what the signed-in viewer may see of them, from one API call. */
"use strict";

(() => {
  const {
    connect, el, face, formatDateTime, formatNumber, personLink, showStatus, widgetLink,
  } = BoroughWidget;
  const config = JSON.parse(document.getElementById("profile-config").textContent);
  const root = document.getElementById("profile");

  const section = (id, title, ...content) =>
    el("section", { class: "block", "aria-labelledby": id }, el("h2", { id }, title), ...content);

  const people = (list) =>
    el("ul", { class: "people" }, list.map((person) => el("li", {}, personLink(person),
      person.job_title ? el("span", { class: "meta" }, person.job_title) : null)));

  function header(p) {
    return el("header", { class: "identity" },
      face(p, 96),
      el("div", { class: "who" },
        el("h1", { id: "name" }, p.display_name,
          p.pronouns ? el("span", { class: "pronouns" }, ` (${p.pronouns})`) : null),
        p.job_title ? el("p", { class: "title" }, p.job_title) : null,
        p.organisation ? el("p", { class: "meta" }, p.organisation) : null,
        p.units.length ? el("ul", { class: "chips", "aria-label": "Units" },
          p.units.map((unit) => el("li", {}, el("a", { class: "chip", href: widgetLink(unit.page) },
            unit.name)))) : null,
        el("p", { class: "actions" }, el("a", { class: "button", href: p.message, target: "_blank",
          rel: "noopener" }, "Message"))));
  }

  /* The manager chain, top first, ending with this person. */
  function breadcrumb(p) {
    if (!p.chain.length) return null;
    return el("nav", { class: "breadcrumb", "aria-label": "Reporting line" },
      el("ol", {}, p.chain.map((person) => el("li", {}, personLink(person, 24))),
        el("li", { "aria-current": "page" }, p.display_name)));
  }

  function contact(p) {
    if (!p.contact.length) return null;
    return section("contact-heading", "Contact", el("dl", { class: "contact" },
      p.contact.flatMap((field) => [el("dt", {}, field.label),
        el("dd", {}, field.href ? el("a", { href: field.href }, field.value) : field.value)])));
  }

  function skills(p) {
    if (!p.skills.length) return null;
    return section("skills-heading", "Skills", el("ul", { class: "chips" },
      p.skills.map((skill) => el("li", {}, el("a", { class: "chip", href: widgetLink(skill.search),
        title: `Find people with ${skill.name}` }, skill.name)))));
  }

  function about(p) {
    if (!p.bio_html) return null;
    const body = el("div", { class: "bio" });
    body.innerHTML = p.bio_html; // Markdown rendered and sanitised (nh3) by the server
    return section("about-heading", "About", body);
  }

  function postItem(post) {
    return el("li", { class: "post" },
      el("p", { class: "meta" }, `In ${post.channel} · `, el("time", { datetime: post.sent_at },
        formatDateTime(post.sent_at))),
      el("p", { class: "body" }, post.pieces.map((piece) => piece.text)),
      el("p", { class: "meta" },
        `${formatNumber(post.reply_count)} replies · ${formatNumber(post.reaction_count)} reactions · `,
        el("a", { href: post.link, target: "_blank", rel: "noopener" }, "Open in Element")));
  }

  function edits(p) {
    if (!p.is_own) return null;
    return section("edit-heading", "Change your profile",
      el("p", { class: "meta" }, "Send these to the Borough bot in a chat:"),
      el("dl", { class: "edits" }, p.edits.flatMap((edit) => [el("dt", {}, edit.label),
        el("dd", {}, edit.command ? [el("code", {}, edit.command),
          edit.visibility ? [el("br"), el("code", {}, edit.visibility)] : null] : edit.note)])));
  }

  function render(p) {
    document.title = `${p.display_name} · Borough`;
    root.replaceChildren(
      breadcrumb(p),
      header(p),
      el("div", { class: "columns" },
        el("div", {}, about(p), contact(p), skills(p),
          p.reports.length ? section("reports-heading", "Direct reports", people(p.reports)) : null,
          edits(p)),
        el("div", {},
          section("posts-heading", "Recent posts", p.posts.length
            ? el("ol", { class: "posts" }, p.posts.map(postItem))
            : el("p", { class: "meta" }, "No posts you can read.")),
          p.partnerships.length ? section("partnerships-heading", "Partnerships",
            el("ul", { class: "chips" }, p.partnerships.map((partnership) => el("li", {},
              el("a", { class: "chip", href: widgetLink(partnership.page) }, partnership.name)))))
            : null,
          p.channels.length ? section("channels-heading", "Channels", el("ul", { class: "chips" },
            p.channels.map((c) => el("li", {}, el("a", { class: "chip", href: c.link,
              target: "_blank", rel: "noopener" }, c.name))))) : null)));
    root.hidden = false;
  }

  document.getElementById("directory-link").href = widgetLink("/widgets/people");
  connect([])
    .then(async (session) => {
      document.body.dataset.viewer = session.userId;
      const shown = await session.api(`/widgets/api/profiles/${encodeURIComponent(config.user_id)}`);
      render(shown);
      showStatus("");
    })
    .catch((error) => showStatus(error.message, true));
})();
