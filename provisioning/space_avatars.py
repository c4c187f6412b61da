"""Space avatars: the image the org chart gives an organisation, unit or partnership, set as
its space's `m.room.avatar` by `borough apply`, as a person's avatar is set on their profile.

Each image is uploaded once per content hash, through the record people's avatars use
(`mirrored_avatars`). The plan compares the space's avatar with that upload, so a re-apply
with no change sends nothing, and an avatar changed by hand in Element is set back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from borough.live import LiveNetwork
from borough.network import DesiredNetwork
from provisioning.plan import PHASE_STATE, AvatarFile, Change, SetState

AVATAR = "m.room.avatar"


@dataclass(frozen=True)
class SpaceAvatars:
    """What the planner needs: each space's image file (by room key), the media ids of the
    images uploaded before (by content hash), and the live network."""

    files: Mapping[str, AvatarFile]
    uploads: Mapping[str, str]
    live: LiveNetwork

    def changes(self, network: DesiredNetwork) -> list[Change]:
        """A change for each space whose avatar is not its image. Content is the image's
        media id when it was uploaded before, else the file, which apply uploads."""
        changes = []
        for key, room in sorted(network.rooms.items()):
            avatar = self.files.get(key)
            if room.avatar is None or avatar is None:
                continue
            live = self.live.rooms.get(key)
            current = (live.content(AVATAR) or {}).get("url") if live else None
            mxc = self.uploads.get(avatar.sha256)
            if mxc is not None and current == mxc:
                continue
            changes.append(
                Change(
                    PHASE_STATE,
                    "spaces",
                    "+" if current is None else "~",
                    key,
                    f"avatar {Path(avatar.path).name}",
                    SetState(key, AVATAR, "", {"url": mxc} if mxc else avatar),
                )
            )
        return changes
