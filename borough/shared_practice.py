"""Accepted answers as shared practice: the one query the bot's `!answers`, the directory
widget's tab and the public pages read, each for its viewer.

Who may read an answer is `borough.asking.may_read`: a question asked in a sealed room is
read only by that room's members (its channel members, as the bot's index keeps them), and
the public pages (no viewer) show only questions their askers marked public, never sealed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from borough.asking import SEALED_ROOM, may_read, words_found
from borough.db import Answer, ChannelMember, Profile, Question
from borough.visibility import Viewer


@dataclass(frozen=True)
class SharedAnswer:
    question_id: int
    room_id: str
    #: The question's thread root (a matrix.to link opens it).
    event_id: str
    question: str
    skill: str | None
    asker_name: str
    answer: str
    answerer_name: str
    accepted_at: datetime


async def accepted_answers(
    session: AsyncSession, viewer: Viewer | None, words: Sequence[str] = (), limit: int = 50
) -> list[SharedAnswer]:
    """Accepted answers the viewer may read whose question or answer has every word, newest
    accepted first. `viewer` None is the open web: public questions only."""
    asker, answerer = aliased(Profile), aliased(Profile)
    query = (
        select(Question, Answer, asker.display_name, answerer.display_name)
        .join(Answer, Answer.event_id == Question.accepted_answer)
        .outerjoin(asker, asker.user_id == Question.asker)
        .outerjoin(answerer, answerer.user_id == Answer.sender)
        .order_by(Question.accepted_at.desc(), Question.id.desc())
    )
    if viewer is None:
        query = query.where(Question.is_public.is_(True), Question.audience != SEALED_ROOM)
    rows = (await session.execute(query)).all()
    sealed_rooms = {q.room_id for q, *_ in rows if q.audience == SEALED_ROOM}
    members: dict[str, set[str]] = {room: set() for room in sealed_rooms}
    if sealed_rooms and viewer is not None:
        for room_id, user_id in await session.execute(
            select(ChannelMember.room_id, ChannelMember.user_id).where(
                ChannelMember.room_id.in_(sealed_rooms), ChannelMember.user_id == viewer.user_id
            )
        ):
            members[room_id].add(user_id)
    found = []
    for question, answer, asker_name, answerer_name in rows:
        if viewer is not None and not may_read(
            viewer, question.audience, question.is_public, members.get(question.room_id, set())
        ):
            continue
        if words and not words_found(words, question.text, answer.body):
            continue
        found.append(
            SharedAnswer(
                question_id=question.id,
                room_id=question.room_id,
                event_id=question.event_id or "",
                question=question.text,
                skill=question.skill,
                asker_name=asker_name or question.asker,
                answer=answer.body,
                answerer_name=answerer_name or answer.sender,
                accepted_at=question.accepted_at or question.asked_at,
            )
        )
        if len(found) >= limit:
            break
    return found
