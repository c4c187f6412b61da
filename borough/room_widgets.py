"""Borough's own room widgets (people directory, channel timeline) in Element's format, and
where every widget Borough writes goes in the room's layout, Jitsi meetings included.

The bot's `!widget` and `apply` both write these, so both use this one definition. A widget
is `im.vector.modular.widgets` state (state key = widget id) of type `m.custom`; Element
fills the `$matrix_*` variables and adds `widgetId` and `parentUrl` to the URL. The widget
page never trusts those variables: it identifies the viewer by OpenID (widgets/viewer.py).
The URL also asks for Element's theme and language (MSC2873's `client_theme` and
`client_language`), so the page opens looking like the Element around it (widgets/pages.py);
apply rewrites a widget an earlier Borough wrote without them, as it does any changed state.

Where a widget goes is `io.element.widgets.layout` (Element Web's WidgetLayoutStore.ts): the
`top` container is the pinned row above the timeline, at most MAX_PINNED wide, sharing the
room's width; `right` is the side panel, where Element keeps unpinned widgets (Room info >
Extensions opens one there, 320 px wide by default, and it can be maximised). Only a meeting
is pinned: it is what a person needs at once, and the row stays wide enough to use. The
directory and timelines go to the side panel. Placing a widget never moves what the layout
already holds, and keeps whatever else the layout has.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

#: Element pins at most three widgets in the top row (WidgetLayoutStore.MAX_PINNED).
MAX_PINNED = 3
#: How Borough itself pinned a widget (any index): the only entry it writes in the top row.
_BOROUGH_PIN = {"container": "top", "width": 50, "height": 40}

Kind = Literal["people", "timeline", "townhall"]
_ID_SAFE = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class RoomWidget:
    """`people`, or `timeline` of one channel (alias or room id), or of the viewer's follows."""

    kind: Kind
    channel: str | None = None

    @property
    def widget_id(self) -> str:
        if self.kind == "people":
            return "borough_people"
        if self.kind == "townhall":
            return "borough_townhall"
        if self.channel is None:
            return "borough_timeline"
        return "borough_timeline_" + _ID_SAFE.sub("_", self.channel.lower()).strip("_")

    @property
    def name(self) -> str:
        if self.kind == "people":
            return "People directory"
        if self.kind == "townhall":
            return "Town hall"
        if not self.channel:
            return "Timeline"
        # Element clamps a widget's name in its lists: the alias without its server fits.
        local = self.channel.split(":", 1)[0] if self.channel.startswith("#") else self.channel
        return f"Timeline {local}"

    def url(self, public_url: str) -> str:
        base = public_url.rstrip("/")
        # Element fills these (matrix-widget-api's url-template.ts); the page trusts none of
        # them for who is looking, only for how to look.
        common = (
            "room=$matrix_room_id&user=$matrix_user_id"
            "&theme=$org.matrix.msc2873.client_theme&lang=$org.matrix.msc2873.client_language"
        )
        if self.kind == "people":
            return f"{base}/widgets/people?{common}"
        if self.kind == "townhall":
            # The room it is added to is the channel whose town hall it shows.
            return f"{base}/widgets/townhall?{common}"
        channel = f"channel={quote(self.channel, safe='')}&" if self.channel else ""
        return f"{base}/widgets/timeline?{channel}{common}"

    def content(self, public_url: str, creator: str) -> dict[str, Any]:
        return {
            "type": "m.custom",
            "url": self.url(public_url),
            "name": self.name,
            "id": self.widget_id,
            "creatorUserId": creator,
            "waitForIframeLoad": True,
            "data": {"title": self.name},
        }


def pinned_layout(current: dict[str, Any] | None, widget_ids: list[str]) -> dict[str, Any] | None:
    """The layout with each widget pinned (for a meeting), or None when all are already
    placed (any container: a room admin may have moved them, and that choice stands). New
    widgets go after the pinned ones in the top row while it has room, else to the side panel."""
    return _placed(current, widget_ids, pin=True)


def side_panel_layout(
    current: dict[str, Any] | None, widget_ids: list[str]
) -> dict[str, Any] | None:
    """The layout with each widget in the side panel (the directory, timelines), or None when
    all are already placed (any container: a room admin may have pinned them). A widget still
    in the exact entry an earlier Borough pinned it with moves to the side panel too; Element
    writes a pin with the widths and heights it computed, so an admin's pin stands."""
    widgets = (current or {}).get("widgets") or {}
    former = [w for w in widget_ids if _is_borough_pin(widgets.get(w))]
    kept = {w: e for w, e in widgets.items() if w not in former}
    return _placed({**(current or {}), "widgets": kept} if former else current, widget_ids, False)


def _is_borough_pin(entry: Any) -> bool:
    return isinstance(entry, dict) and {k: v for k, v in entry.items() if k != "index"} == (
        _BOROUGH_PIN
    )


def _placed(
    current: dict[str, Any] | None, widget_ids: list[str], pin: bool
) -> dict[str, Any] | None:
    widgets = dict((current or {}).get("widgets") or {})
    missing = [w for w in widget_ids if w not in widgets]
    if not missing:
        return None
    top = [e for e in widgets.values() if isinstance(e, dict) and e.get("container") == "top"]
    index = 1 + max((int(e.get("index", 0)) for e in top), default=-1)
    for widget_id in missing:
        if pin and len(top) < MAX_PINNED:
            entry = {**_BOROUGH_PIN, "index": index}
            top.append(entry)
            index += 1
        else:
            entry = {"container": "right"}
        widgets[widget_id] = entry
    return {**(current or {}), "widgets": widgets}


def unpinned_layout(current: dict[str, Any] | None, widget_id: str) -> dict[str, Any] | None:
    """The layout without `widget_id`, or None when it did not mention it (nothing to write)."""
    widgets = dict((current or {}).get("widgets") or {})
    if widget_id not in widgets:
        return None
    del widgets[widget_id]
    return {**(current or {}), "widgets": widgets}
