/* The channel timeline widget: one channel or your follows, optionally one hashtag. */
"use strict";

(() => {
  const {
    connect, el, face, formatDateTime, formatNumber, latestOnly, showFailure, showStatus, widgetLink,
  } = BoroughWidget;
  const posts = document.getElementById("posts");
  const source = document.getElementById("source");
  const tagInput = document.getElementById("tag");
  // The posts shown answer the last filter asked for, whichever answer lands last.
  const postsTurn = latestOnly();
  let api;

  const tagButton = (tag, text) =>
    el("button", { type: "button", class: "link tag",
      onclick: () => show(source.value, tag).catch(showFailure) }, text);

  // The author's face and name, leading to their profile page while they have one.
  const author = (post) => post.author_profile
    ? el("a", { class: "person", href: widgetLink(post.author_profile) },
      face({ avatar: post.author_avatar }, 24), el("strong", {}, post.author))
    : el("strong", {}, post.author);

  function postItem(post) {
    // Each hashtag is a filter button where it stands in the text; a tag the index holds
    // that the text no longer shows (an edited post) is listed after it, never twice.
    const inText = new Set(post.pieces.map((piece) => piece.tag).filter(Boolean));
    const others = post.tags.filter((tag) => !inText.has(tag));
    return el("article", { class: "post" },
      el("p", { class: "meta" }, author(post), ` in ${post.channel} · `,
        el("time", { datetime: post.sent_at }, formatDateTime(post.sent_at))),
      el("p", {}, post.pieces.map((piece) =>
        piece.tag ? tagButton(piece.tag, piece.text) : piece.text)),
      others.length ? el("p", { class: "tags" }, others.map((tag) => tagButton(tag, `#${tag}`)))
        : null,
      el("p", { class: "meta" },
        `${formatNumber(post.reply_count)} replies · ${formatNumber(post.reaction_count)} reactions · `,
        el("a", { href: post.link, target: "_blank", rel: "noopener" }, "Open in Element")));
  }

  async function show(channel, tag) {
    tagInput.value = tag ? `#${tag}` : "";
    const query = new URLSearchParams();
    if (channel) query.set("channel", channel);
    if (tag) query.set("tag", tag);
    showStatus("Loading…");
    const answer = await api(`api/timeline?${query}`, { signal: postsTurn() });
    document.getElementById("heading").textContent = answer.title;
    posts.replaceChildren(...(answer.posts.length ? answer.posts.map(postItem)
      : [el("p", {}, "Nothing to show yet.")]));
    showStatus("");
  }

  document.getElementById("filter").addEventListener("submit", (event) => {
    event.preventDefault();
    const tag = tagInput.value.trim().replace(/^#/, "");
    show(source.value, tag).catch(showFailure);
  });

  connect([])
    .then(async (session) => {
      api = session.api;
      document.body.dataset.viewer = session.userId;
      const { channels } = await api("api/timeline/sources");
      source.replaceChildren(el("option", { value: "" }, "Your follows"),
        ...channels.map((c) => el("option", { value: c.room_id }, c.name)));
      const wanted = new URLSearchParams(window.location.search).get("channel") || "";
      const match = channels.find((c) => [c.room_id, c.alias, c.key].includes(wanted));
      source.value = match ? match.room_id : "";
      document.getElementById("filter").hidden = false;
      await show(source.value, null);
    })
    .catch(showFailure);
})();
