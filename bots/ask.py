"""Ask the network: `!ask`, `!accept`, `!public`, `!answers`, and the answers in threads.

`!ask` posts the question into an "Ask the network" room (the asker's organisation's when
`org:` names it, else the network-wide one; apply makes both) and sends a direct message to
up to five people whose skills match, chosen by `borough.asking`. A question asked in a
sealed room stays there: it is the `!ask` message itself, and only that room's members are
asked. Answers are thread replies to the question; its asker accepts one with ✅ or
`!accept`, and accepted answers are found with `!answers`.
"""

from __future__ import annotations

import logging
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from nio import AsyncClient, RoomGetEventResponse, RoomResolveAliasResponse, RoomSendResponse
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from borough import directory, events
from borough.asking import (
    LIMIT_WINDOW,
    NETWORK,
    SEALED_ROOM,
    AskedQuestion,
    Match,
    choose,
    organisation_audience,
    parse_ask,
)
from borough.db import Answer, OrganisationRow, Profile, Question, QuestionRoute
from borough.network import ask_alias
from borough.shared_practice import accepted_answers
from borough.visibility import Viewer
from borough.wording import count, quoted
from bots.commands import Arg, Commands, Request, UsageError
from bots.direct import DirectMessages
from bots.homeserver import HomeserverRefused, checked, state_content
from bots.meet import Clock, utc_now
from bots.replies import in_thread, notice, thread_root

logger = logging.getLogger(__name__)

#: Reactions that accept an answer: ✅, with or without the emoji variation selector.
ACCEPT_KEYS = ("✅", "✅\ufe0f", "✔️", "✔")
#: Accepted answers shown by one `!answers`.
ANSWERS_SHOWN = 10


def event_link(room_id: str, event_id: str) -> str:
    return f"https://matrix.to/#/{quote(room_id)}/{quote(event_id)}"


@dataclass
class AskTheNetwork:
    sessions: async_sessionmaker[AsyncSession]
    client: AsyncClient
    direct: DirectMessages
    server_name: str
    clock: Clock = field(default=utc_now)
    #: Ask rooms' ids by address, once resolved (a room keeps its address).
    _rooms: dict[str, str] = field(default_factory=dict)

    # --- asking --------------------------------------------------------------------------

    async def ask(self, request: Request, question: AskedQuestion) -> str:
        async with self.sessions() as session:
            asked = await session.scalar(
                select(Question).where(Question.command_event_id == request.event_id)
            )
            if asked is not None:  # a replayed command: finish what it started
                routes = list(
                    await session.scalars(
                        select(QuestionRoute.user_id).where(QuestionRoute.question_id == asked.id)
                    )
                )
                await self._notify(asked, routes)
                return self._asked(asked, routes)
            asker = await directory.viewer(session, request.sender)
            if asker.is_community:
                raise UsageError("Ask the network is for people in the network's organisations.")
            if question.organisation is not None and (
                await session.get(OrganisationRow, question.organisation) is None
            ):
                raise UsageError(
                    f"I know no organisation `{question.organisation}`: `org:` takes an "
                    "organisation's key, as `!find` shows it."
                )
        if await self._is_sealed(request.room_id):
            room_id, audience = request.room_id, SEALED_ROOM
        elif asker.organisation is not None and (
            question.organisation == asker.organisation
            or (question.organisation is None and await self._in_own_room(request, asker))
        ):
            # `org:` naming the asker's own organisation, or a question typed in its Ask
            # room: it stays in that room, which only the organisation's people read.
            room_id = await self._room(asker.organisation)
            audience = organisation_audience(asker.organisation)
        else:
            room_id, audience = await self._room(None), NETWORK
        now = self.clock()
        async with self.sessions() as session:
            experts = await directory.experts(session, asker, question.organisation)
            recent = await self._recently_asked(session, [e.user_id for e in experts], now)
            profile = await session.get(Profile, request.sender)
        chosen = choose(request.sender, experts, question, self._readers(room_id), recent)
        if audience == SEALED_ROOM:
            event_id = request.event_id
        else:
            name = profile.display_name if profile else request.sender
            event_id = await self._post(room_id, request.event_id, name, question)
        async with self.sessions.begin() as session:
            asked = Question(
                command_event_id=request.event_id,
                room_id=room_id,
                event_id=event_id,
                asker=request.sender,
                organisation=asker.organisation,
                text=question.text,
                skill=question.skill,
                audience=audience,
                asked_at=now,
            )
            session.add(asked)
            await session.flush()
            session.add_all(
                QuestionRoute(question_id=asked.id, user_id=m.expert.user_id, routed_at=now)
                for m in chosen
            )
        await self._notify(asked, [m.expert.user_id for m in chosen], chosen)
        return self._asked(asked, [m.expert.display_name for m in chosen])

    def _asked(self, asked: Question, names: Sequence[str]) -> str:
        link = event_link(asked.room_id, asked.event_id or "")
        where = "here, in its thread" if asked.audience == SEALED_ROOM else f"[in its room]({link})"
        if not names:
            return (
                f"Your question is asked {where}. Nobody who offers a matching skill could "
                "be asked just now, so it waits there for anyone who knows."
            )
        return (
            f"Your question is asked {where}; I sent it to "
            f"{count(len(names), 'person', 'people')} whose skills match: {', '.join(names)}. "
            "Answers come in its thread; accept the one that helps with ✅ or `!accept`."
        )

    async def _notify(
        self, asked: Question, user_ids: Sequence[str], matches: Sequence[Match] = ()
    ) -> None:
        """A direct message to each person asked; a replay sends none twice (same txn ids)."""
        skills = {m.expert.user_id: m.skills for m in matches}
        link = event_link(asked.room_id, asked.event_id or "")
        for number, user_id in enumerate(sorted(user_ids)):
            matched = skills.get(user_id)
            why = f" ({', '.join(matched)})" if matched else ""
            text = (
                f"Someone in the network has a question you may know the answer to{why}:\n\n"
                f"> {_one_line(asked.text)}\n\n[Open the question]({link}) and answer in its "
                "thread. (`!profile set available no` stops these.)"
            )
            tx_id = f"ask-{asked.command_event_id}-{number}"
            if await self.direct.send(user_id, text, tx_id) is None:
                logger.warning("could not send question %d to %s", asked.id, user_id)

    async def _post(self, room_id: str, command_id: str, name: str, question: AskedQuestion) -> str:
        skill = f"\n\nSkill wanted: {question.skill}" if question.skill else ""
        text = f"**{name}** asks:\n\n> {_one_line(question.text)}{skill}\n\nAnswer in this thread."
        response = await self.client.room_send(
            room_id, "m.room.message", notice(text), tx_id=f"ask-{command_id}"
        )
        sent = checked(response, RoomSendResponse, "posting your question")
        return str(sent.event_id)

    async def _room(self, organisation: str | None) -> str:
        alias = f"#{ask_alias(organisation)}:{self.server_name}"
        if alias not in self._rooms:
            response = await self.client.room_resolve_alias(alias)
            try:
                self._rooms[alias] = str(
                    checked(response, RoomResolveAliasResponse, f"finding {alias}").room_id
                )
            except HomeserverRefused:
                raise UsageError(
                    f"There is no room {alias} yet: a Borough admin makes it with `borough apply`."
                ) from None
        return self._rooms[alias]

    async def _in_own_room(self, request: Request, asker: Viewer) -> bool:
        """Whether the command was typed in the Ask room of the asker's organisation."""
        try:
            return request.room_id == await self._room(asker.organisation)
        except UsageError:  # not made yet: the question goes to the network's room
            return False

    async def _is_sealed(self, room_id: str) -> bool:
        return bool(await state_content(self.client, room_id, events.POLICY))

    def _readers(self, room_id: str) -> set[str]:
        """Who can read the room: its joined members as the bot's sync has them."""
        room = self.client.rooms.get(room_id)
        return set(room.users) if room is not None else set()

    async def _recently_asked(
        self, session: AsyncSession, user_ids: Sequence[str], now: datetime
    ) -> dict[str, int]:
        if not user_ids:
            return {}
        rows = await session.execute(
            select(QuestionRoute.user_id, func.count())
            .where(
                QuestionRoute.user_id.in_(user_ids),
                QuestionRoute.routed_at > now - LIMIT_WINDOW,
            )
            .group_by(QuestionRoute.user_id)
        )
        return {user_id: int(n) for user_id, n in rows}

    # --- answers, in threads ------------------------------------------------------------

    async def observe(self, room_id: str, source: dict[str, Any]) -> None:
        """A timeline event: a thread reply to a question is an answer; the asker's ✅ on an
        answer accepts it."""
        content = source.get("content")
        relates = content.get("m.relates_to") if isinstance(content, dict) else None
        if not isinstance(relates, dict) or source.get("sender") == self.client.user_id:
            return
        kind = source.get("type")
        if kind == "m.room.message" and relates.get("rel_type") == "m.thread":
            body = content.get("body") if isinstance(content, dict) else None
            if isinstance(body, str) and not body.lstrip().startswith("!"):
                await self._answered(room_id, source, str(relates.get("event_id")), body)
        elif (
            kind == "m.reaction"
            and relates.get("rel_type") == "m.annotation"
            and relates.get("key") in ACCEPT_KEYS
        ):
            async with self.sessions.begin() as session:
                answer = await session.get(Answer, str(relates.get("event_id")))
                if answer is None:
                    return
                asked = await session.get(Question, answer.question_id)
                # An answer is a reply in its question's thread: the question was posted.
                if asked is None or asked.asker != source.get("sender") or asked.event_id is None:
                    return
                self._accept(asked, answer)
                name = await session.scalar(
                    select(Profile.display_name).where(Profile.user_id == answer.sender)
                )
            # Said in the thread, so the answerer and everyone reading it know.
            text = (
                f"✅ Accepted {name or answer.sender}'s answer: shared practice now (`!answers`)."
            )
            response = await self.client.room_send(
                room_id,
                "m.room.message",
                in_thread(asked.event_id, notice(text), reply_to=answer.event_id),
                tx_id=f"accepted-{answer.event_id}",
            )
            try:
                checked(response, RoomSendResponse, "saying the answer is accepted")
            except HomeserverRefused as refused:
                logger.warning("%s", refused)

    async def _answered(self, room_id: str, source: dict[str, Any], root: str, body: str) -> None:
        async with self.sessions.begin() as session:
            asked = await session.scalar(
                select(Question).where(Question.event_id == root, Question.room_id == room_id)
            )
            sender = str(source["sender"])
            # The asker's own replies (a detail, a thank-you) answer nothing.
            if asked is None or sender == asked.asker:
                return
            if await session.get(Answer, source["event_id"]) is not None:
                return
            organisation = await session.scalar(
                select(Profile.organisation).where(Profile.user_id == sender)
            )
            session.add(
                Answer(
                    event_id=source["event_id"],
                    question_id=asked.id,
                    sender=sender,
                    organisation=organisation,
                    body=body,
                    answered_at=_sent_at(source, self.clock()),
                )
            )

    def _accept(self, asked: Question, answer: Answer) -> None:
        asked.accepted_answer = answer.event_id
        asked.accepted_at = self.clock()

    async def accept(self, request: Request) -> str:
        thread, reply_to = await self._relations(request)
        async with self.sessions.begin() as session:
            asked = await self._question(session, request, thread, reply_to)
            answers = list(
                await session.scalars(
                    select(Answer)
                    .where(Answer.question_id == asked.id)
                    .order_by(Answer.answered_at)
                )
            )
            chosen = next((a for a in answers if a.event_id == reply_to), None)
            if chosen is None:
                if not answers:
                    raise UsageError("Your question has no answer yet to accept.")
                if len(answers) > 1:
                    raise UsageError(
                        f"Your question has {len(answers)} answers: reply to the one you "
                        "accept with `!accept`, or react ✅ to it."
                    )
                chosen = answers[0]
            self._accept(asked, chosen)
            name = await session.scalar(
                select(Profile.display_name).where(Profile.user_id == chosen.sender)
            )
        return (
            f"Accepted {name or chosen.sender}'s answer: it is shared practice now, "
            "found with `!answers`."
        )

    async def make_public(self, request: Request) -> str:
        thread, reply_to = await self._relations(request)
        async with self.sessions.begin() as session:
            asked = await self._question(session, request, thread, reply_to)
            if asked.audience == SEALED_ROOM:
                raise UsageError(
                    "A question asked in a sealed room stays in it: it cannot be public."
                )
            asked.is_public = True
        return (
            "Your question is public: with its accepted answer, it is shown on the network's "
            "public pages."
        )

    async def _relations(self, request: Request) -> tuple[str | None, str | None]:
        """The thread the command was typed in, and the event it replies to (not Element's
        fallback reply to the thread's latest event)."""
        response = await self.client.room_get_event(request.room_id, request.event_id)
        source = checked(response, RoomGetEventResponse, "reading your command").event.source
        relates = source.get("content", {}).get("m.relates_to") or {}
        reply = relates.get("m.in_reply_to") or {}
        fallback = relates.get("is_falling_back") is True
        return thread_root(source.get("content")), None if fallback else reply.get("event_id")

    async def _question(
        self, session: AsyncSession, request: Request, thread: str | None, reply_to: str | None
    ) -> Question:
        """The asker's question this command is about: the thread's, or the answered one's."""
        asked = None
        if thread is not None:
            asked = await session.scalar(select(Question).where(Question.event_id == thread))
        if asked is None and reply_to is not None:
            answer = await session.get(Answer, reply_to)
            if answer is not None:
                asked = await session.get(Question, answer.question_id)
            else:
                asked = await session.scalar(select(Question).where(Question.event_id == reply_to))
        if asked is None:
            raise UsageError("Type this in your question's thread, as a reply to the answer.")
        if asked.asker != request.sender:
            raise UsageError("Only the person who asked the question may do that.")
        return asked

    # --- shared practice -------------------------------------------------------------------

    async def answers(self, request: Request, words: str) -> str:
        async with self.sessions() as session:
            viewer = await directory.viewer(session, request.sender)
            found = await accepted_answers(session, viewer, words.split(), ANSWERS_SHOWN + 1)
        if not found:
            return f"No accepted answer matches {quoted(words)} yet. `!ask` puts a question to the network."
        shown = found[:ANSWERS_SHOWN]
        lines = [f"**{count(len(shown), 'accepted answer', 'accepted answers')}**", ""]
        for item in shown:
            link = event_link(item.room_id, item.event_id)
            lines.append(
                f"- [{_one_line(item.question, 120)}]({link}): {item.answerer_name} answered"
            )
            lines.append(f"  > {_one_line(item.answer, 300)}")
        if len(found) > ANSWERS_SHOWN:
            lines += ["", f"The newest {ANSWERS_SHOWN} are shown; add words to narrow."]
        return "\n".join(lines)


def _one_line(text: str, limit: int = 1000) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _sent_at(source: dict[str, Any], default: datetime) -> datetime:
    ts = source.get("origin_server_ts")
    return datetime.fromtimestamp(ts / 1000, UTC) if isinstance(ts, int) else default


# --- commands ------------------------------------------------------------------------------------

COMMANDS = Commands(AskTheNetwork)


def _parse(words: str) -> AskedQuestion:
    # The registry has split and re-quoted the words already, so this split cannot fail.
    return parse_ask(shlex.split(words))


@COMMANDS.command(
    "ask",
    Arg(
        "question",
        'your question, with `skill:"…"` to name the skill and `org:KEY` to ask one organisation',
        is_rest=True,
        keeps_quotes=True,
        max_length=1200,
        convert=_parse,
    ),
    help="Ask the network: the question goes to its Ask room and to up to 5 people whose "
    "skills match.",
)
async def ask(asking: AskTheNetwork, request: Request, question: AskedQuestion) -> str:
    return await asking.ask(request, question)


@COMMANDS.command(
    "accept",
    help="In your question's thread, replying to an answer: accept it as shared practice.",
)
async def accept(asking: AskTheNetwork, request: Request) -> str:
    return await asking.accept(request)


@COMMANDS.command(
    "public",
    help="In your question's thread: show it and its accepted answer on the public pages.",
)
async def public(asking: AskTheNetwork, request: Request) -> str:
    return await asking.make_public(request)


@COMMANDS.command(
    "answers",
    Arg("words", "words of the question or answer", is_rest=True, max_length=200),
    help="Search accepted answers you may read: the network's shared practice.",
)
async def answers(asking: AskTheNetwork, request: Request, words: str) -> str:
    return await asking.answers(request, words)
