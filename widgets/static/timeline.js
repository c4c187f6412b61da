/* The channel timeline widget: one channel or your follows, optionally one hashtag. */
"use strict";

(() => {
  const { connect, el, showStatus } = BoroughWidget;
  const posts = document.getElementById("posts");
  const source = document.getElementById("source");
  const tagInput = document.getElementById("tag");
  let api;

  function postItem(post) {
    const when = new Date(post.sent_at);
    return el("article", { class: "post" },
      el("p", { class: "meta" }, el("strong", {}, post.author), ` in ${post.channel} · `,
        el("time", { datetime: post.sent_at }, when.toLocaleString())),
      el("p", {}, post.body),
      post.tags.length ? el("p", { class: "tags" }, post.tags.map((tag) =>
        el("button", { type: "button", class: "link", onclick: () => show(source.value, tag) },
          `#${tag}`))) : null,
      el("p", { class: "meta" }, `${post.reply_count} replies · ${post.reaction_count} reactions · `,
        el("a", { href: post.link, target: "_blank", rel: "noopener" }, "Open in Element")));
  }

  async function show(channel, tag) {
    tagInput.value = tag ? `#${tag}` : "";
    const query = new URLSearchParams();
    if (channel) query.set("channel", channel);
    if (tag) query.set("tag", tag);
    showStatus("Loading…");
    const answer = await api(`api/timeline?${query}`);
    document.getElementById("heading").textContent = answer.title;
    posts.replaceChildren(...(answer.posts.length ? answer.posts.map(postItem)
      : [el("p", {}, "Nothing to show yet.")]));
    showStatus("");
  }

  document.getElementById("filter").addEventListener("submit", (event) => {
    event.preventDefault();
    const tag = tagInput.value.trim().replace(/^#/, "");
    show(source.value, tag).catch((error) => showStatus(error.message, true));
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
    .catch((error) => showStatus(error.message, true));
})();
