"""Where SCIM's Users and Groups live: the app database, one organisation's rows per request.

`OrgStorage` is scim2-server's storage interface over `scim_resources`, bound to the
organisation of the request's token: another organisation's resource is not found when read
and forbidden when written. It records which users a write touched, so the view can carry
them into the organisation's fragment in the same transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from scim2_models import (
    Context,
    ForbiddenException,
    Group,
    Meta,
    NotFoundException,
    PreconditionFailedException,
    Resource,
    ResourceType,
    ResponseParameters,
    ScimFilter,
    SearchRequest,
    UniquenessException,
)
from scim2_models.path import CompareOperator, Comparison
from scim2_server.storage import AsyncScimStorage, SearchPage
from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from borough.db import ScimResource

CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User:"
CORE_GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group:"


@dataclass
class Touched:
    """What a write changed: users whose person must be mapped again, and the usernames
    that leave the fragment (a deletion, `active: false`, a renamed userName)."""

    users: set[str] = field(default_factory=set)
    departing: set[str] = field(default_factory=set)
    actions: list[tuple[str, str]] = field(default_factory=list)  # (action, resource id)


def _version(number: int) -> str:
    return f'W/"{number}"'


class OrgStorage(AsyncScimStorage):
    """One request's view of the store: `organisation`'s rows in `session` (the caller's
    transaction). `writing` says whether another organisation's resource is forbidden (a
    write) or simply not found (a read)."""

    def __init__(
        self,
        session: AsyncSession,
        organisation: str,
        models: dict[str, type[Resource[Any]]],
        *,
        writing: bool,
    ) -> None:
        self.session = session
        self.organisation = organisation
        self.models = models
        self.writing = writing
        self.touched = Touched()

    # -- conversion -------------------------------------------------------------------

    def resource_of(self, row: ScimResource) -> Resource[Any]:
        model = self.models[row.resource_type]
        resource = model.model_validate(row.body)
        resource.id = row.id
        resource.meta = Meta(
            resource_type=row.resource_type,
            created=row.created_at,
            last_modified=row.modified_at,
            version=_version(row.version),
        )
        return resource

    @staticmethod
    def body_of(resource: Resource[Any]) -> dict[str, Any]:
        """What is kept of a resource: everything a client may read back (write-only
        attributes such as a password are never stored), without id and meta."""
        body = resource.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
        body.pop("id", None)
        body.pop("meta", None)
        return body

    def _fill(self, row: ScimResource, resource: Resource[Any]) -> None:
        row.body = self.body_of(resource)
        row.external_id = resource.external_id
        if isinstance(resource, Group):
            row.display_name = resource.display_name
            row.user_name = None
            row.emails = None
            return
        user_name = getattr(resource, "user_name", None)
        row.user_name = user_name.casefold() if isinstance(user_name, str) else None
        row.display_name = getattr(resource, "display_name", None)
        emails = getattr(resource, "emails", None) or []
        row.emails = "\n".join(e.value.casefold() for e in emails if e.value) or None

    # -- reads ------------------------------------------------------------------------

    async def _row(self, resource_type: ResourceType, resource_id: str | None) -> ScimResource:
        row = await self.session.get(ScimResource, str(resource_id)) if resource_id else None
        if row is None or row.resource_type != resource_type.name:
            raise NotFoundException(detail=f"{resource_type.name} {resource_id!r} not found")
        if row.organisation != self.organisation:
            if self.writing:
                raise ForbiddenException(
                    detail=f"{resource_type.name} {resource_id!r} belongs to another "
                    "organisation; this token writes only its own organisation's people"
                )
            raise NotFoundException(detail=f"{resource_type.name} {resource_id!r} not found")
        return row

    async def get(
        self,
        resource_type: ResourceType,
        resource_id: str,
        *,
        response_parameters: ResponseParameters[Any] | None = None,
    ) -> Resource[Any]:
        return self.resource_of(await self._row(resource_type, resource_id))

    async def search(
        self,
        resource_types: list[ResourceType],
        search_request: SearchRequest[Any],
        *,
        position: Any = None,
    ) -> SearchPage:
        found: list[Resource[Any]] = []
        for resource_type in resource_types:
            name = str(resource_type.name)
            model = self.models[name]
            scim_filter = search_request.filter
            if scim_filter is not None and not scim_filter.models:
                scim_filter = ScimFilter[model](str(scim_filter))  # type: ignore[valid-type]
            query = self._narrowed(
                select(ScimResource).where(
                    ScimResource.organisation == self.organisation,
                    ScimResource.resource_type == name,
                ),
                scim_filter,
            )
            rows = (await self.session.scalars(query.order_by(ScimResource.created_at))).all()
            resources = (self.resource_of(row) for row in rows)
            found += [r for r in resources if scim_filter is None or scim_filter.match(r)]
        start = search_request.start_index_0 or 0
        stop = None if search_request.count is None else start + search_request.count
        return SearchPage(len(found), found[start:stop])

    @staticmethod
    def _narrowed(
        query: Select[ScimResource], scim_filter: ScimFilter[Any] | None
    ) -> Select[ScimResource]:
        """The rows a filter can match, when it is one `eq` on an indexed attribute (what
        identity providers send before each write); the filter itself still decides."""
        node = scim_filter.ast if scim_filter is not None else None
        if not (
            isinstance(node, Comparison)
            and node.op == CompareOperator.eq
            and isinstance(node.value, str)
        ):
            return query
        name = str(node.attr_path).removeprefix(CORE_USER).removeprefix(CORE_GROUP).casefold()
        value = node.value
        match name:
            case "username":
                return query.where(ScimResource.user_name == value.casefold())
            case "externalid":
                return query.where(ScimResource.external_id == value)
            case "emails.value" | "emails":
                return query.where(ScimResource.emails.contains(value.casefold()))
        return query

    # -- writes -----------------------------------------------------------------------

    async def _check_unique(self, row: ScimResource) -> None:
        if row.user_name is None:
            return
        clash = await self.session.scalar(
            select(ScimResource.id).where(
                ScimResource.organisation == self.organisation,
                ScimResource.resource_type == row.resource_type,
                ScimResource.user_name == row.user_name,
                ScimResource.id != row.id,
            )
        )
        if clash is not None:
            raise UniquenessException(detail=f"userName '{row.user_name}' is already taken")

    def _touch(
        self, resource_type: str, before: dict[str, Any], after: dict[str, Any], rid: str
    ) -> None:
        if resource_type == "User":
            self.touched.users.add(rid)
            return
        for body in (before, after):
            self.touched.users |= {
                str(m["value"]) for m in body.get("members") or [] if m.get("value")
            }

    async def create(self, resource_type: ResourceType, resource: Resource[Any]) -> Resource[Any]:
        now = datetime.now(UTC)
        row = ScimResource(
            id=uuid.uuid4().hex,
            organisation=self.organisation,
            resource_type=resource_type.name,
            version=1,
            created_at=now,
            modified_at=now,
            notes=[],
        )
        self._fill(row, resource)
        await self._check_unique(row)
        self.session.add(row)
        self._touch(row.resource_type, {}, row.body, row.id)
        self.touched.actions.append((f"scim.{str(resource_type.name).lower()}.create", row.id))
        return self.resource_of(row)

    async def update(
        self,
        resource_type: ResourceType,
        resource: Resource[Any],
        *,
        expected_version: str | None = None,
    ) -> Resource[Any]:
        row = await self._row(resource_type, resource.id)
        if expected_version is not None and _version(row.version) != expected_version:
            raise PreconditionFailedException
        before = row.body
        self._fill(row, resource)
        await self._check_unique(row)
        row.version += 1
        row.modified_at = datetime.now(UTC)
        self._touch(row.resource_type, before, row.body, row.id)
        self.touched.actions.append((f"scim.{str(resource_type.name).lower()}.update", row.id))
        return self.resource_of(row)

    async def delete(
        self,
        resource_type: ResourceType,
        resource_id: str,
        *,
        expected_version: str | None = None,
    ) -> None:
        row = await self._row(resource_type, resource_id)
        if expected_version is not None and _version(row.version) != expected_version:
            raise PreconditionFailedException
        self._touch(row.resource_type, row.body, {}, row.id)
        if row.resource_type == "User":
            self.touched.users.discard(row.id)
            if row.username:
                self.touched.departing.add(row.username)
            await self._leave_groups(row.id)
        await self.session.delete(row)
        self.touched.actions.append((f"scim.{str(resource_type.name).lower()}.delete", row.id))

    async def _leave_groups(self, user_id: str) -> None:
        """A deleted user is no group's member any more (RFC 7644 §3.6)."""
        groups = await self.session.scalars(
            select(ScimResource).where(
                ScimResource.organisation == self.organisation,
                ScimResource.resource_type == "Group",
            )
        )
        for group in groups:
            members = group.body.get("members") or []
            kept = [m for m in members if m.get("value") != user_id]
            if len(kept) != len(members):
                group.body = {**group.body, "members": kept}
                group.version += 1
                group.modified_at = datetime.now(UTC)
