"""SQLAlchemy 2 models of the app database. Migrations in `migrations/` create these tables."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[str]: JSON}


class Profile(Base):
    """A person's card. Rows with `is_managed` were provisioned from the org YAML."""

    __tablename__ = "profiles"

    user_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    username: Mapped[str] = mapped_column(String(255), index=True)
    display_name: Mapped[str] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(320))
    organisation: Mapped[str | None] = mapped_column(String(64), index=True)
    units: Mapped[list[str]] = mapped_column(JSON, default=list)
    role: Mapped[str] = mapped_column(String(32), default="staff")
    job_title: Mapped[str | None] = mapped_column(String(255))
    manager: Mapped[str | None] = mapped_column(String(255), index=True)
    is_managed: Mapped[bool] = mapped_column(Boolean, default=True)
    left_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: When the profile was first written (empty for people here before Borough recorded it).
    joined_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), default=utcnow, index=True
    )

    fields: Mapped[list[ProfileFieldRow]] = relationship(
        back_populates="profile", cascade="all, delete-orphan", lazy="selectin"
    )


class ProfileFieldRow(Base):
    """One profile field. `source` is 'org' when the YAML sets it, 'self' when the person did."""

    __tablename__ = "profile_fields"

    user_id: Mapped[str] = mapped_column(
        ForeignKey("profiles.user_id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
    visibility: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(8), default="org")

    profile: Mapped[Profile] = relationship(back_populates="fields")


class AuditEntry(Base):
    """Append-only record of admin actions: who did what, when, why, to which ids."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(255), index=True)
    action: Mapped[str] = mapped_column(String(64), index=True)
    reason: Mapped[str | None] = mapped_column(Text)
    target_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class BotState(Base):
    """Where a bot's sync stands. Written only after the handlers' work is committed."""

    __tablename__ = "bot_state"

    bot: Mapped[str] = mapped_column(String(255), primary_key=True)
    next_batch: Mapped[str] = mapped_column(String(255))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class BotHeartbeat(Base):
    """A running bot says here, every few seconds, that it runs and where (`holder`, the
    host and process id), so `borough doctor` can tell a live bot from a stopped one. A bot
    that stops cleanly sets `stopped_at`; one that is killed just stops beating."""

    __tablename__ = "bot_heartbeats"

    bot: Mapped[str] = mapped_column(String(255), primary_key=True)
    holder: Mapped[str] = mapped_column(String(255))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    beat_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    stopped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class BotLeaseRow(Base):
    """Which process may act as a bot (`borough.bot_lease`): the one named here, until
    `expires_at` unless it renews. `term` counts takeovers; every write the bot makes first
    checks that its term still holds the row, so a process that lost the lease writes nothing."""

    __tablename__ = "bot_leases"

    bot: Mapped[str] = mapped_column(String(255), primary_key=True)
    term: Mapped[int] = mapped_column(BigInteger)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    since: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    renewed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class HandledEvent(Base):
    """An event a bot has acted on; a replayed sync skips it."""

    __tablename__ = "handled_events"

    event_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    room_id: Mapped[str] = mapped_column(String(255))
    handled_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ChannelRow(Base):
    """A microblog channel the bot indexes, from its `org.borough.channel` state."""

    __tablename__ = "channels"

    room_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    key: Mapped[str] = mapped_column(String(255))
    alias: Mapped[str | None] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255))
    is_sealed: Mapped[bool] = mapped_column(Boolean)
    posters: Mapped[list[str]] = mapped_column(JSON, default=list)
    max_length: Mapped[int] = mapped_column(Integer)
    #: Public channels are shown on the open web (pages and Atom feeds); never sealed ones.
    is_public: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class Post(Base):
    """A channel post, or a thread reply to one (`thread_root` set). Redacted posts are deleted."""

    __tablename__ = "posts"

    event_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    room_id: Mapped[str] = mapped_column(String(255))
    author: Mapped[str] = mapped_column(String(255), index=True)
    sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    body: Mapped[str] = mapped_column(Text)
    links: Mapped[list[str]] = mapped_column(JSON, default=list)
    thread_root: Mapped[str | None] = mapped_column(String(255), index=True)
    reply_count: Mapped[int] = mapped_column(Integer, default=0)
    reaction_count: Mapped[int] = mapped_column(Integer, default=0)
    edited_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class PostTag(Base):
    __tablename__ = "post_tags"

    event_id: Mapped[str] = mapped_column(
        ForeignKey("posts.event_id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(100), primary_key=True)
    sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    #: The post's channel, copied (posts never move): `!trending` reads only this table.
    room_id: Mapped[str] = mapped_column(String(255))


class PostMention(Base):
    __tablename__ = "post_mentions"

    event_id: Mapped[str] = mapped_column(
        ForeignKey("posts.event_id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(String(255), primary_key=True, index=True)


class Reaction(Base):
    __tablename__ = "reactions"

    event_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    post_id: Mapped[str] = mapped_column(String(255), index=True)
    sender: Mapped[str] = mapped_column(String(255))
    key: Mapped[str] = mapped_column(String(255))
    #: When the reaction was made (its origin_server_ts), not its post.
    sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class Follow(Base):
    __tablename__ = "follows"

    user_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    room_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    since: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class UnitRow(Base):
    """A unit as last applied from the org chart."""

    __tablename__ = "units"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    organisation: Mapped[str] = mapped_column(String(64))
    parent: Mapped[str | None] = mapped_column(String(64))


# --- Reposts, digests, blogs, mirrored avatars (bots issue part 2, migration 0005) ---------


class Repost(Base):
    """A post boosted into another channel by `!repost`. One repost per post and channel."""

    __tablename__ = "reposts"
    __table_args__ = (UniqueConstraint("source_event_id", "target_room_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source_event_id: Mapped[str] = mapped_column(String(255), index=True)
    source_room_id: Mapped[str] = mapped_column(String(255))
    target_room_id: Mapped[str] = mapped_column(String(255))
    reposter: Mapped[str] = mapped_column(String(255), index=True)
    #: The transaction id the bot sends the boost with, so a retry cannot post twice.
    txn_id: Mapped[str] = mapped_column(String(255))
    #: The boost's own event id, once Synapse has accepted it.
    event_id: Mapped[str | None] = mapped_column(String(255))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class DigestSubscription(Base):
    """Who wants a digest, how often, and at what local time (`at_time` is HH:MM in `tz`)."""

    __tablename__ = "digest_subscriptions"

    user_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    frequency: Mapped[str] = mapped_column(String(8))
    at_time: Mapped[str] = mapped_column(String(5))
    tz: Mapped[str] = mapped_column(String(64))
    since: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class DigestSent(Base):
    """One digest period delivered (or being delivered) to one person: the never-twice record.

    The row is committed before the send, with the transaction id the send uses, so a
    crash between the two retries with the same id and Synapse deduplicates it.
    """

    __tablename__ = "digests_sent"

    user_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    period: Mapped[str] = mapped_column(String(32), primary_key=True)
    txn_id: Mapped[str] = mapped_column(String(255))
    room_id: Mapped[str | None] = mapped_column(String(255))
    event_id: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class DirectRoom(Base):
    """The bot's DM room with a person, created once and reused."""

    __tablename__ = "direct_rooms"

    user_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    room_id: Mapped[str] = mapped_column(String(255))


class BlogRoom(Base):
    """A unit's blog room, from its `org.borough.blog` state."""

    __tablename__ = "blog_rooms"

    room_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    unit: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(255))
    is_public: Mapped[bool] = mapped_column(Boolean, default=False)


class BlogPost(Base):
    """A blog post: a message in a blog room that starts with a Markdown heading.

    `html` is rendered from Markdown and sanitised with nh3; `media` is a list of
    {"url": "mxc://...", "mimetype": str, "alt": str}. Redacted posts are deleted.
    """

    __tablename__ = "blog_posts"

    event_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    room_id: Mapped[str] = mapped_column(String(255), index=True)
    unit: Mapped[str] = mapped_column(String(64), index=True)
    author: Mapped[str] = mapped_column(String(255))
    title: Mapped[str] = mapped_column(String(255))
    html: Mapped[str] = mapped_column(Text)
    summary: Mapped[str] = mapped_column(String(300))
    media: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    edited_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    is_public: Mapped[bool] = mapped_column(Boolean, default=False)


class BlogMedia(Base):
    """A media event attached to a blog post (so its redaction can remove it from `media`)."""

    __tablename__ = "blog_media"

    event_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    post_id: Mapped[str] = mapped_column(
        ForeignKey("blog_posts.event_id", ondelete="CASCADE"), index=True
    )
    url: Mapped[str] = mapped_column(String(500))


class MirroredProfile(Base):
    """What `borough apply` last pushed to a person's Matrix profile: the MSC4133 custom fields
    (name -> value) and the avatar's content hash, so a re-apply with no change sends nothing."""

    __tablename__ = "mirrored_profiles"

    user_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    avatar_sha256: Mapped[str | None] = mapped_column(String(64))


class MirroredAvatar(Base):
    """An avatar file uploaded to the media repository, by content hash: upload once."""

    __tablename__ = "mirrored_avatars"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    mxc: Mapped[str] = mapped_column(String(255))
    uploaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


# --- Conferencing (issue 5): meetings and who joined them -----------------------------------


class Meeting(Base):
    """A Jitsi meeting in a room: started now by `!meet`, scheduled, or standing.

    Each timestamp is a committed state transition: `reminded_at` and `started_at` are claimed
    before the bot acts, so a reminder or a start never happens twice.
    """

    __tablename__ = "meetings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    room_id: Mapped[str] = mapped_column(String(255), index=True)
    widget_id: Mapped[str] = mapped_column(String(255))
    conference_id: Mapped[str] = mapped_column(String(255))
    title: Mapped[str] = mapped_column(String(255))
    is_audio_only: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[str] = mapped_column(String(255))
    scheduled_for: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    timezone: Mapped[str] = mapped_column(String(64))
    reminded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class MeetingParticipant(Base):
    """Someone the token service admitted to a meeting's conference; first admission only."""

    __tablename__ = "meeting_participants"

    meeting_id: Mapped[int] = mapped_column(
        ForeignKey("meetings.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    first_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


# --- Directory and readers (migration 0006) ---


class ChannelMember(Base):
    """Who is joined to a room the bot is in, kept by the bot's indexer from member events.

    A channel's members are its readers (`borough.readers`)."""

    __tablename__ = "channel_members"

    room_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(255), primary_key=True, index=True)


class DirectoryEntry(Base):
    """A present person's searchable words, folded in Python (`borough.directory_index`).

    Derived from `profiles` and `profile_fields` by `borough.directory.refresh`; never edit it.
    `position` numbers people in name order, with gaps; it keys `directory_fts` on SQLite.
    Skills and bio keep their visibility so a search can leave out what the viewer may not see.
    """

    __tablename__ = "directory_entries"

    #: The rowid on SQLite (see migration 0012): name order, with gaps.
    position: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=False
    )
    user_id: Mapped[str] = mapped_column(String(255), unique=True)
    display_name: Mapped[str] = mapped_column(String(255))
    username: Mapped[str] = mapped_column(String(255))
    job_title: Mapped[str | None] = mapped_column(String(255))
    organisation: Mapped[str | None] = mapped_column(String(64))
    org_key: Mapped[str | None] = mapped_column(String(64), index=True)
    role: Mapped[str] = mapped_column(String(32))
    #: Unit keys, lower-cased, one per line with a newline either side.
    units_text: Mapped[str] = mapped_column(Text)
    #: Folded words with a space either side (`directory_index.token_text`).
    name_text: Mapped[str] = mapped_column(Text)
    title_text: Mapped[str] = mapped_column(Text)
    skills_text: Mapped[str] = mapped_column(Text)
    skills_visibility: Mapped[str | None] = mapped_column(String(16))
    bio_text: Mapped[str] = mapped_column(Text)
    bio_visibility: Mapped[str | None] = mapped_column(String(16))
    #: Marks for the person and their organisation: who reads their restricted fields.
    circle_text: Mapped[str] = mapped_column(Text)
    #: Marks for organisation, units and role: what `org:`, `unit:` and `role:` filter on.
    tags_text: Mapped[str] = mapped_column(Text)


class DirectoryDirty(Base):
    """A person whose directory entry is out of date; database triggers on `profiles` and
    `profile_fields` add rows, so every writer (apply, the bot, admin tools) is covered."""

    __tablename__ = "directory_dirty"

    user_id: Mapped[str] = mapped_column(String(255), primary_key=True)


# --- Provisioning: the live state as last read ------------------------------------------------


class LiveSnapshot(Base):
    """The rooms' state as `borough plan/apply` last read it, with the sync token it reached,
    so the next read asks Synapse only for what changed since."""

    __tablename__ = "live_snapshots"

    reader: Mapped[str] = mapped_column(String(64), primary_key=True)
    filter_version: Mapped[str] = mapped_column(String(64))
    since: Mapped[str] = mapped_column(Text)
    rooms: Mapped[dict[str, Any]] = mapped_column(JSON)
    saved_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


# --- Names and first steps (issue 18, migration 0017) -----------------------------------------


class OrganisationRow(Base):
    """An organisation as last applied from the org chart: its name, for cards and welcomes."""

    __tablename__ = "organisations"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))


class PartnershipRow(Base):
    """A partnership as last applied from the org chart: the organisations, units and people
    it joins (keys and user ids, as the chart names them), for its page in the org chart."""

    __tablename__ = "partnerships"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    organisations: Mapped[list[str]] = mapped_column(JSON, default=list)
    units: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: People named on their own (leads among them), as user ids.
    people: Mapped[list[str]] = mapped_column(JSON, default=list)
    leads: Mapped[list[str]] = mapped_column(JSON, default=list)


class ProfileViewRow(Base):
    """A profile someone opened, for the directory's "recently viewed"; a few per viewer
    (`borough.directory.RECENT_VIEWS`), the oldest dropped as new ones come."""

    __tablename__ = "profile_views"

    viewer: Mapped[str] = mapped_column(String(255), primary_key=True)
    viewed: Mapped[str] = mapped_column(String(255), primary_key=True, index=True)
    viewed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class WelcomeSent(Base):
    """The one welcome message a person gets from the bot. Committed before the send, with
    the transaction id the send uses, so a restart retries the same send and never repeats."""

    __tablename__ = "welcomes_sent"

    user_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    txn_id: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: Set once Synapse accepted the message; a row without it is a send to finish.
    event_id: Mapped[str | None] = mapped_column(String(255))


# --- Identity sync over SCIM 2.0 (issue 15, migration 0024) ----------------------------------


class ScimToken(Base):
    """A bearer token an identity provider sends to `/scim/v2/`: one organisation's. Only its
    SHA-256 is kept; the token itself is shown once, when it is created."""

    __tablename__ = "scim_tokens"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    organisation: Mapped[str] = mapped_column(String(64), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ScimResource(Base):
    """A User or Group as the organisation's identity provider last wrote it. The person it
    maps to lives in the org chart's fragment; this row is the provider's side (ids, raw
    attributes, group members) and what could not be mapped (`notes`)."""

    __tablename__ = "scim_resources"
    __table_args__ = (UniqueConstraint("organisation", "resource_type", "user_name"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    organisation: Mapped[str] = mapped_column(String(64), index=True)
    resource_type: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    modified_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: userName, case-folded (RFC 7643: userName is not case-exact and unique)
    user_name: Mapped[str | None] = mapped_column(String(255))
    external_id: Mapped[str | None] = mapped_column(String(255), index=True)
    display_name: Mapped[str | None] = mapped_column(String(255), index=True)
    #: every email value, case-folded, one a line: narrows an `emails.value eq` search
    emails: Mapped[str | None] = mapped_column(Text)
    #: the Borough username a User maps to
    username: Mapped[str | None] = mapped_column(String(255))
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    notes: Mapped[list[str]] = mapped_column(JSON, default=list)


# --- Ask the network (issue 16, migration 0023) ------------------------------------------------


class Question(Base):
    """A question asked with `!ask` (bots.ask): the message that holds it, who may read it,
    and the answer its asker accepted. `audience` is `network`, `org:KEY` (an organisation's
    Ask room) or `room` (asked inside a sealed room, which it never leaves)."""

    __tablename__ = "questions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    #: The command's event id: a replayed command finds its question instead of asking twice.
    command_event_id: Mapped[str] = mapped_column(String(255), unique=True)
    room_id: Mapped[str] = mapped_column(String(255))
    #: The thread root where answers go; None until the bot's post of it is sent.
    event_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    asker: Mapped[str] = mapped_column(String(255), index=True)
    #: The asker's organisation when they asked, for the report.
    organisation: Mapped[str | None] = mapped_column(String(64), index=True)
    text: Mapped[str] = mapped_column(Text)
    skill: Mapped[str | None] = mapped_column(String(100))
    audience: Mapped[str] = mapped_column(String(80))
    is_public: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    asked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    accepted_answer: Mapped[str | None] = mapped_column(String(255))
    accepted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class QuestionRoute(Base):
    """One person a question was sent to. The daily limit counts these rows, so it holds
    across restarts of the bot."""

    __tablename__ = "question_routes"
    # The daily limit counts one person's recent routes.
    __table_args__ = (Index("ix_question_routes_user_at", "user_id", "routed_at"),)

    question_id: Mapped[int] = mapped_column(
        ForeignKey("questions.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    routed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Answer(Base):
    """A thread reply to a question, with the answerer's organisation when they answered."""

    __tablename__ = "answers"

    event_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    question_id: Mapped[int] = mapped_column(
        ForeignKey("questions.id", ondelete="CASCADE"), index=True
    )
    sender: Mapped[str] = mapped_column(String(255))
    organisation: Mapped[str | None] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    answered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# --- Town halls (issue 16, migration 0024) ----------------------------------------------------


class TownHall(Base):
    """A town hall in a channel: planned (`scheduled_for`) or started at once, with a Jitsi
    meeting and one pinned message that lists the questions and is their thread's root.

    As with meetings, `started_at` and `ended_at` are claimed by a conditional UPDATE before
    the bot acts; what the start and end send carries transaction ids derived from the town
    hall's id, so a bot restarted half-way finishes the same work instead of repeating it.
    """

    __tablename__ = "town_halls"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    room_id: Mapped[str] = mapped_column(String(255), index=True)
    title: Mapped[str] = mapped_column(String(255))
    created_by: Mapped[str] = mapped_column(String(255))
    timezone: Mapped[str] = mapped_column(String(64))
    #: The `!townhall` message that made it: a replayed command finds it instead of a second.
    command_event_id: Mapped[str] = mapped_column(String(255), unique=True)
    scheduled_for: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    meeting_id: Mapped[int | None] = mapped_column(
        ForeignKey("meetings.id", ondelete="SET NULL"), nullable=True
    )
    #: The pinned list of questions, which is also the root of the question thread.
    root_event_id: Mapped[str | None] = mapped_column(String(255))
    #: What the list last said, and how many edits made it say so.
    list_text: Mapped[str | None] = mapped_column(Text)
    edits_sent: Mapped[int] = mapped_column(Integer, default=0)
    summary_event_id: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class TownHallQuestion(Base):
    """A question in a town hall: a reply in its thread, or asked anonymously by direct message
    and posted by the bot. `asker` is never shown for an anonymous question (`label` is: the
    asker's unit); the audit log keeps who asked, for the channel's moderators."""

    __tablename__ = "town_hall_questions"
    __table_args__ = (UniqueConstraint("town_hall_id", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    town_hall_id: Mapped[int] = mapped_column(
        ForeignKey("town_halls.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int] = mapped_column(Integer)
    #: The event people react to: the asker's reply, or the bot's post of an anonymous one.
    event_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    #: The message that asked: the thread reply itself, or the `!q` sent to the bot.
    source_event_id: Mapped[str] = mapped_column(String(255), unique=True)
    asker: Mapped[str] = mapped_column(String(255), index=True)
    is_anonymous: Mapped[bool] = mapped_column(Boolean)
    label: Mapped[str] = mapped_column(String(255))
    body: Mapped[str] = mapped_column(Text)
    asked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    hidden_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    withdrawn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class TownHallVote(Base):
    """A 👍 on a question, by its reaction event: a redaction takes it back. A person's several
    👍 on one question count once."""

    __tablename__ = "town_hall_votes"

    reaction_event_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    question_id: Mapped[int] = mapped_column(
        ForeignKey("town_hall_questions.id", ondelete="CASCADE"), index=True
    )
    voter: Mapped[str] = mapped_column(String(255))


class TownHallViewer(Base):
    """Someone who opened a live town hall's widget: who joined, where Jitsi's admissions
    are not known (a conference without Borough's token service)."""

    __tablename__ = "town_hall_viewers"

    town_hall_id: Mapped[int] = mapped_column(
        ForeignKey("town_halls.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    first_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
