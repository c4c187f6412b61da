"""SCIM 2.0 under `/scim/v2/`: each organisation's identity provider keeps its people current.

scim2-server speaks the protocol (routing, filters, paging, PATCH and PUT, errors in RFC 7644
§3.12 form); this module is its aiohttp shell. A request's bearer token names one
organisation. A write's users are mapped (`widgets.scim_mapping`) and imported into that
organisation's fragment through the people import (`borough.people_import`), in the same
transaction as the SCIM rows and the audit entry: a write the chart refuses is answered
with an error and nothing is kept. Then, with `scim.organisations.<org>.apply: auto`, a
scoped `borough partner apply` runs; with `review` the fragment waits for an admin.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import logging
import os
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from aiohttp import web
from scim2_models import (
    AuthenticationScheme,
    Bulk,
    ChangePassword,
    EnterpriseUser,
    ETag,
    External,
    Filter,
    ForbiddenException,
    Group,
    InvalidValueException,
    Patch,
    Reference,
    ResourceType,
    SCIMException,
    ScimProvider,
    ServiceProviderConfig,
    Sort,
    UnauthorizedException,
    UniquenessException,
    User,
)
from scim2_models import Path as ScimPath
from scim2_server.handler import AsyncScimHandler
from scim2_server.requests import ScimRequest
from scim2_server.responses import ScimResponse
from scim2_server.routing import Operation
from scim2_server.service import ScimService
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from borough import audit
from borough.db import ScimResource
from borough.errors import EXIT_REFUSED
from borough.org import OrgChart, OrgChartError
from borough.org.fragments import Fragment
from borough.org.loader import load_org_chart_with_fragments
from borough.people_import import FragmentImport, HrRow, NoFragment, import_people
from borough.settings import ScimOrganisation, Settings
from widgets.app import SESSIONS, SETTINGS, SETTINGS_PATH
from widgets.scim_mapping import ScimMapping, load_scim_mapping, person_values
from widgets.scim_storage import OrgStorage, Touched
from widgets.scim_tokens import token_of

logger = logging.getLogger(__name__)

ROOT = "/scim/v2"
USER_MODEL = User[EnterpriseUser]
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
#: A bad row's reason that means the write reaches outside the token's organisation.
OUTSIDE = ("belongs to '", "is a person of '", "listed in the main org file")
#: For `borough scim unmapped`: an admin group's member whose fragment may not name admins.
ADMIN_HELD = (
    "in an admin group: list them under this organisation's 'admins:' in the main org file, "
    "or let its fragment name its admins there (fragment_may_add_admins: true)"
)


def scim_provider(max_results: int = 200) -> ScimProvider:
    bearer = AuthenticationScheme(
        type=AuthenticationScheme.Type.oauthbearertoken,
        name="OAuth Bearer Token",
        description="A token from `borough scim token create --org KEY`, one organisation's",
        spec_uri=Reference[External]("https://www.rfc-editor.org/rfc/rfc6750"),
        primary=True,
    )
    config = ServiceProviderConfig(
        patch=Patch(supported=True),
        bulk=Bulk(supported=False, max_operations=0, max_payload_size=0),
        filter=Filter(supported=True, max_results=max_results),
        change_password=ChangePassword(supported=False),
        sort=Sort(supported=False),
        etag=ETag(supported=False),
        authentication_schemes=[bearer],
    )
    return ScimProvider(
        models=[User, EnterpriseUser, Group],
        resource_types=[ResourceType.from_resource(USER_MODEL), ResourceType.from_resource(Group)],
        config=config,
    )


MODELS: dict[str, type[Any]] = {"User": USER_MODEL, "Group": Group}


# --- the identity provider's quirks, made standard before scim2-server reads them ---------


def standard_body(body: bytes) -> bytes:
    """Entra ID sends a manager as a bare id (`"manager": "…"` in a PATCH value) or as
    `{"value": "…"}` without `$ref`, which RFC 7643 §4.3 asks for; give it one. Anything not
    JSON is left for scim2-server to refuse."""
    try:
        data = json.loads(body)
    except ValueError:
        return body
    changed = False

    def fix(value: Any) -> Any:
        nonlocal changed
        if isinstance(value, str) and value:
            changed = True
            return {"value": value, "$ref": f"Users/{value}"}
        if isinstance(value, dict) and value.get("value") and "$ref" not in value:
            changed = True
            return {**value, "$ref": f"Users/{value['value']}"}
        return value

    if isinstance(data, dict):
        extension = data.get(ENTERPRISE)
        if isinstance(extension, dict) and "manager" in extension:
            extension["manager"] = fix(extension["manager"])
        for op in data.get("Operations") or []:
            if not isinstance(op, dict):
                continue
            path = str(op.get("path") or "")
            if path in (f"{ENTERPRISE}:manager", f"{ENTERPRISE}.manager"):
                op["path"] = f"{ENTERPRISE}:manager"
                op["value"] = fix(op.get("value"))
            elif isinstance(op.get("value"), dict):
                value = op["value"]
                if f"{ENTERPRISE}:manager" in value:
                    value[f"{ENTERPRISE}:manager"] = fix(value[f"{ENTERPRISE}:manager"])
                if isinstance(value.get(ENTERPRISE), dict) and "manager" in value[ENTERPRISE]:
                    value[ENTERPRISE]["manager"] = fix(value[ENTERPRISE]["manager"])
    return json.dumps(data).encode() if changed else body


# --- carrying a write into the fragment ---------------------------------------------------


@dataclass
class FragmentSync:
    """What a write did to the organisation's fragment, for the audit entry."""

    joiners: list[str] = field(default_factory=list)
    movers: list[str] = field(default_factory=list)
    leavers: list[str] = field(default_factory=list)
    notes: dict[str, list[str]] = field(default_factory=dict)
    text: str | None = None  # the fragment's new text, None when it does not change
    path: Path | None = None
    #: the chart and fragments once `text` is written, and the chart they came from
    #: (kept by `ChartCache`)
    chart: OrgChart | None = None
    fragments: list[Fragment] = field(default_factory=list)
    base: _Kept | None = None
    #: each carried user's username (user id: username)
    usernames: dict[str, str] = field(default_factory=dict)

    def details(self, touched: Touched) -> dict[str, Any]:
        """What one write of a batch did: the batch's changes to its own users."""
        names = {self.usernames.get(u) for u in touched.users} | touched.departing
        return {
            "joiners": [name for name in self.joiners if name in names],
            "movers": [name for name in self.movers if name in names],
            "leavers": [name for name in self.leavers if name in names],
            "unmapped": {u: notes for u, notes in self.notes.items() if u in touched.users},
        }


@dataclass
class _Write:
    """One write request, waiting to be carried with the others of its organisation."""

    token_id: str
    request: ScimRequest
    answer: asyncio.Future[ScimResponse]

    def refuse(self, error: Exception) -> None:
        if not self.answer.done():  # its client may have gone
            self.answer.set_exception(error)

    def answered(self, response: ScimResponse) -> None:
        if not self.answer.done():
            self.answer.set_result(response)


class _Refused(Exception):
    """A batch cannot land as a whole: write `index` was refused, or (`index` None) the
    import of the batch was, and which write is to blame is not known."""

    def __init__(self, error: SCIMException, index: int | None) -> None:
        super().__init__(str(error))
        self.error = error
        self.index = index


Stamp = tuple[int, int, int]


@dataclass
class _Kept:
    #: each file's stamp when it was read: the main file's, then the fragments'
    stamps: dict[str, Stamp]
    chart: OrgChart
    fragments: list[Fragment]


def _stamp(path: Path | str) -> Stamp:
    st = os.stat(path)
    return st.st_mtime_ns, st.st_size, st.st_ino


class ChartCache:
    """The chart as this process last loaded or wrote it, used while its files are as they
    were then, so a write of a few people does not parse and check thousands twice.

    A file anyone else changes (a hand edit, another replica's write) has another stamp
    (modification time, size, inode) and the chart is read again. A file modified within
    `RECENT` seconds before a load is not kept: it might change again unseen within the
    file system's timestamp granularity.
    """

    RECENT = 1.0

    def __init__(self, path: Path) -> None:
        self.path = path
        self.kept: _Kept | None = None

    def _files(self, fragments: list[Fragment]) -> list[str]:
        return [str(self.path), *(f.filename for f in fragments)]

    def is_current(self, kept: _Kept) -> bool:
        try:
            return all(kept.stamps.get(f) == _stamp(f) for f in self._files(kept.fragments))
        except OSError:
            return False

    def load(self) -> _Kept:
        kept = self.kept
        if kept is not None and self.is_current(kept):
            return kept
        self.kept = None
        began = time.time_ns()
        chart, fragments = load_org_chart_with_fragments(self.path)
        loaded = _Kept({f: _stamp(f) for f in self._files(fragments)}, chart, fragments)
        if all(mtime < began - self.RECENT * 1e9 for mtime, _, _ in loaded.stamps.values()):
            self.kept = loaded
        return loaded

    def wrote(self, base: _Kept, written: Path, chart: OrgChart, fragments: list[Fragment]) -> None:
        """This process has just written `written`, a fragment of `base`: the chart is now
        `chart`. The other files keep their stamps from `base`, so if any of them changed
        since, the chart is read again."""
        name = next((f.filename for f in fragments if Path(f.filename) == written), None)
        if name is None:
            self.kept = None
            return
        self.kept = _Kept({**base.stamps, name: _stamp(name)}, chart, fragments)

    def forget(self) -> None:
        self.kept = None


class ScimSync:
    """The organisation's mapping and chart, and the people import run for a write."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.mappings: dict[str, tuple[float, ScimMapping]] = {}
        self.charts = ChartCache(settings.scim.chart)
        #: writes waiting, and the task carrying them, per organisation
        self.waiting: dict[str, list[_Write]] = {}
        self.carriers: dict[str, asyncio.Task[None]] = {}
        #: how many writes each batch taken held, oldest first (for tests and the log)
        self.batches: list[int] = []
        #: notified as each write arrives (for tests)
        self.arrivals = asyncio.Condition()

    @asynccontextmanager
    async def lock(self, organisation: str) -> AsyncIterator[None]:
        """One batch of the organisation's writes at a time across widget server replicas
        on this machine (an flock beside the chart), since each batch reads and rewrites the
        organisation's fragment. In this process, one task carries them (`write`)."""
        path = self.settings.scim.chart.parent / f".scim-{organisation}.lock"
        handle = await asyncio.to_thread(path.open, "a")
        try:
            await asyncio.to_thread(fcntl.flock, handle, fcntl.LOCK_EX)
            yield
        finally:
            handle.close()  # closing releases the flock

    async def write(
        self, app: web.Application, organisation: str, token_id: str, request: ScimRequest
    ) -> ScimResponse:
        """Carry one write, with the others of the organisation that arrive while a batch
        is being carried (group commit): one chart check, one import, one fragment write
        and one commit for them all, and each its own answer. A write that is refused
        fails alone; the others land."""
        write = _Write(token_id, request, asyncio.get_running_loop().create_future())
        self.waiting.setdefault(organisation, []).append(write)
        if organisation not in self.carriers:
            self.carriers[organisation] = asyncio.create_task(self._carrier(app, organisation))
        async with self.arrivals:
            self.arrivals.notify_all()
        return await write.answer

    async def _carrier(self, app: web.Application, organisation: str) -> None:
        try:
            while batch := self.waiting.pop(organisation, []):
                self.batches.append(len(batch))
                logger.debug("carrying %d SCIM writes of %s", len(batch), organisation)
                try:
                    async with self.lock(organisation):
                        await self._carry(app, organisation, batch)
                except Exception as exc:
                    logger.exception("carrying %d SCIM writes of %s", len(batch), organisation)
                    for write in batch:
                        write.refuse(exc)
        finally:
            del self.carriers[organisation]

    async def _carry(self, app: web.Application, organisation: str, batch: list[_Write]) -> None:
        """Carry `batch` in one transaction, or, if one of it is refused, in parts: the writes
        before it, it alone, the writes after it (halves when the import refused the batch
        and no one write is known to be the cause)."""
        try:
            await self._attempt(app, organisation, batch)
        except _Refused as refused:
            if len(batch) == 1:
                batch[0].refuse(refused.error)
                return
            if refused.index is None:
                parts = [batch[: len(batch) // 2], batch[len(batch) // 2 :]]
            else:
                i = refused.index
                parts = [batch[:i], batch[i : i + 1], batch[i + 1 :]]
            for part in parts:
                if part:
                    await self._carry(app, organisation, part)

    async def _attempt(self, app: web.Application, organisation: str, batch: list[_Write]) -> None:
        service = app[SERVICE]
        async with app[SESSIONS]() as session, session.begin():
            storages: list[OrgStorage] = []
            responses: list[ScimResponse] = []
            for index, write in enumerate(batch):
                storage = OrgStorage(session, organisation, MODELS, writing=True)
                try:
                    responses.append(await AsyncScimHandler(service, storage).handle(write.request))
                except SCIMException as exc:
                    raise _Refused(exc, index) from None
                except IntegrityError:  # an earlier write's row, flushed by this one's query
                    raise _Refused(_taken(), None) from None
                storages.append(storage)
            carried = OrgStorage(session, organisation, MODELS, writing=True)
            for storage in storages:
                carried.touched.users |= storage.touched.users
                carried.touched.departing |= storage.touched.departing
            try:
                outcome = await self.carry(session, carried)
                for write, storage in zip(batch, storages, strict=True):
                    await _audit(session, write.token_id, organisation, storage.touched, outcome)
                await session.flush()
            except SCIMException as exc:
                raise _Refused(exc, None) from None
            except IntegrityError:
                raise _Refused(_taken(), None) from None
            if outcome.text is not None and outcome.path is not None:
                before = outcome.path.read_text(encoding="utf-8")
                write_atomically(outcome.path, outcome.text)
                try:
                    await session.commit()
                except BaseException:
                    write_atomically(outcome.path, before)
                    self.charts.forget()
                    raise
                if outcome.base is not None and outcome.chart is not None:
                    self.charts.wrote(outcome.base, outcome.path, outcome.chart, outcome.fragments)
        config = self.config(organisation)
        if outcome.text is not None and config.apply == "auto":
            app[APPLY].request(organisation, config)  # before any answer: none waits unseen
        for write, response in zip(batch, responses, strict=True):
            write.answered(response)

    def config(self, organisation: str) -> ScimOrganisation:
        config = self.settings.scim.organisations.get(organisation)
        if config is None:
            raise ForbiddenException(
                detail=f"organisation '{organisation}' has no scim.organisations entry in "
                "Borough's settings, so its people cannot be written over SCIM yet"
            )
        return config

    def mapping(self, organisation: str) -> ScimMapping:
        """The mapping file, read again when it changes on disk."""
        path = self.config(organisation).mapping
        stamp = path.stat().st_mtime
        cached = self.mappings.get(organisation)
        if cached is None or cached[0] != stamp:
            cached = (stamp, load_scim_mapping(path))
            self.mappings[organisation] = cached
        return cached[1]

    async def carry(self, session: AsyncSession, storage: OrgStorage) -> FragmentSync:
        """Map the touched users and import them into the fragment (not written yet)."""
        organisation, touched = storage.organisation, storage.touched
        mapping = self.mapping(organisation)
        of_org = ScimResource.organisation == organisation
        # Only what the write needs: its users, the groups, and the managers they name.
        users = {
            r.id: r
            for r in await session.scalars(
                select(ScimResource).where(of_org, ScimResource.id.in_(touched.users))
            )
            if r.resource_type == "User"
        }
        groups = (
            await session.scalars(
                select(ScimResource).where(of_org, ScimResource.resource_type == "Group")
            )
        ).all()
        resources = {user_id: storage.resource_of(row) for user_id, row in users.items()}
        named = {
            str(ref)
            for resource in resources.values()
            if (ref := _read(resource, f"{ENTERPRISE}:manager.value"))
        }
        managers = {
            user_id: username
            for user_id, username in await session.execute(
                select(ScimResource.id, ScimResource.username).where(
                    of_org, ScimResource.resource_type == "User", ScimResource.id.in_(named)
                )
            )
        }
        result = FragmentSync()
        rows: list[HrRow] = []
        imported_rows: dict[str, ScimResource] = {}
        departing = set(touched.departing)
        for number, user_id in enumerate(sorted(touched.users), start=1):
            row = users.get(user_id)
            if row is None:
                continue
            resource = resources[user_id]
            mapped = person_values(
                mapping,
                partial(_read, resource),
                [
                    str(g.display_name)
                    for g in groups
                    if any(m.get("value") == user_id for m in g.body.get("members") or [])
                ],
                managers.get,
            )
            username = mapped.values.get("username")
            if row.username and row.username != username:
                departing.add(row.username)  # a new userName: the old person leaves
            row.notes = list(mapped.notes)
            if mapped.notes:
                result.notes[user_id] = mapped.notes
            if getattr(resource, "active", True) is False:
                row.username = username
                if username:
                    departing.add(username)
                    result.usernames[user_id] = username
                continue
            if username:
                other = await session.scalar(
                    select(ScimResource.id).where(
                        of_org,
                        ScimResource.resource_type == "User",
                        ScimResource.username == username,
                        ScimResource.id != user_id,
                    )
                )
                if other is not None:
                    raise UniquenessException(
                        detail=f"userName '{row.user_name}' gives the username "
                        f"'{username}', which user {other} already has"
                    )
            row.username = username
            if username:
                result.usernames[user_id] = username
                imported_rows[username] = row
            rows.append(HrRow(number, mapped.values))
        departing -= {r.values.get("username") for r in rows}
        if not rows and not departing:
            return result
        imported, base = await asyncio.to_thread(
            self._import, organisation, rows, mapping, departing
        )
        preview = imported.preview
        if preview.bad_rows:
            reasons = "; ".join(f"{b.username or 'a user'}: {b.reason}" for b in preview.bad_rows)
            if any(word in b.reason for b in preview.bad_rows for word in OUTSIDE):
                raise ForbiddenException(detail=f"outside organisation '{organisation}': {reasons}")
            raise InvalidValueException(detail=f"the org chart refuses this: {reasons}")
        for username in preview.admins_held:
            imported_rows[username].notes = [*imported_rows[username].notes, ADMIN_HELD]
        result.joiners = [str(p["username"]) for p in preview.joiners]
        result.movers = [m.username for m in preview.movers]
        result.leavers = [str(p.get("username")) for p in preview.leavers]
        if preview.has_changes:
            result.text, result.path = imported.text, imported.path
            result.chart, result.fragments = imported.chart, imported.fragments
            result.base = base
        return result

    def _import(
        self, organisation: str, rows: list[HrRow], mapping: ScimMapping, departing: set[str]
    ) -> tuple[FragmentImport, _Kept]:
        chart_file = self.settings.scim.chart
        try:
            for _ in range(2):
                kept = self.charts.load()
                imported = import_people(
                    chart_file,
                    kept.fragments,
                    kept.chart,
                    organisation,
                    rows,
                    mapping.as_import(),
                    departing,
                )
                # The fragment's text was read after the chart: if someone changed a file
                # in between, its text and the positions kept do not match; read it again.
                if self.charts.is_current(kept):
                    return imported, kept
                self.charts.forget()
            raise InvalidValueException(
                detail="the org chart's files are changing while this write is carried; retry"
            )
        except NoFragment as exc:
            raise ForbiddenException(detail=str(exc)) from None
        except OrgChartError as exc:
            problems = "; ".join(p.message for p in exc.problems[:5])
            raise InvalidValueException(
                detail=f"the org chart would not be valid with this change: {problems}"
            ) from None


def _read(resource: Any, path: str) -> Any:
    try:
        return ScimPath[USER_MODEL](path).get(resource)
    except SCIMException:
        return None


def write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.scim")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


# --- auto apply ---------------------------------------------------------------------------


class ScopedApply:
    """`borough partner apply` for one organisation after its writes, at most one at a time
    per organisation: writes that land while it runs are applied by one more run after it.

    Across widget server replicas (and a `partner apply` run by hand) the runs take turns by
    `partner apply`'s own lock on the organisation: a replica's run waits for another's to
    end, then plans, and applies the writes that landed meanwhile."""

    def __init__(self, settings_path: str | None, chart: Path) -> None:
        self.settings_path = settings_path
        self.chart = chart
        self.running: dict[str, asyncio.Task[None]] = {}
        self.again: set[str] = set()
        #: finished runs: (organisation, exit code), newest last, for tests and the log
        self.finished: list[tuple[str, int]] = []
        self.idle = asyncio.Event()
        self.idle.set()

    def request(self, organisation: str, config: ScimOrganisation) -> None:
        if organisation in self.running:
            self.again.add(organisation)
            return
        self.idle.clear()
        self.running[organisation] = asyncio.create_task(self._run(organisation, config))

    async def _run(self, organisation: str, config: ScimOrganisation) -> None:
        try:
            while True:
                # Cleared before the run reads the chart: a write that lands from here on is
                # read by it, or after it; either way one more run follows if it asks.
                self.again.discard(organisation)
                code = await self._apply_once(organisation, config)
                self.finished.append((organisation, code))
                if organisation not in self.again:
                    return
        finally:
            del self.running[organisation]
            if not self.running:
                self.idle.set()

    async def _apply_once(self, organisation: str, config: ScimOrganisation) -> int:
        flags = [
            *(["--deactivate-leavers"] if config.deactivate_leavers else []),
            *(["--prune"] if config.prune else []),
        ]
        code, text = await self._partner_apply(organisation, flags)
        if code == EXIT_REFUSED and flags:
            # More removals than the destructive threshold: a partner apply cannot force
            # them, and refusing the whole plan would hold the joiners up too. Apply the
            # rest; the removals wait, listed by the next plan, for an admin.
            logger.warning(
                "SCIM auto apply for %s: removals held back for an admin (%s)",
                organisation,
                text.splitlines()[-1:],
            )
            code, text = await self._partner_apply(organisation, [])
        if code:
            logger.warning("SCIM auto apply for %s failed (%d): %s", organisation, code, text)
        else:
            logger.info("SCIM auto apply for %s: %s", organisation, text.splitlines()[-1:])
        return code

    async def _partner_apply(self, organisation: str, flags: list[str]) -> tuple[int, str]:
        # The `borough` of this interpreter's environment: the same code as this server.
        command = [str(Path(sys.executable).with_name("borough"))]
        if self.settings_path:
            command += ["--settings", self.settings_path]
        command += ["partner", "apply", str(self.chart), "--org", organisation, "--quiet", *flags]
        process = await asyncio.create_subprocess_exec(
            *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        output, _ = await process.communicate()
        return process.returncode or 0, output.decode(errors="replace").strip()


SYNC = web.AppKey("scim_sync", ScimSync)
APPLY = web.AppKey("scim_apply", ScopedApply)
SERVICE = web.AppKey("scim_service", ScimService)


# --- the view -----------------------------------------------------------------------------


def _response(response: ScimResponse) -> web.Response:
    headers = dict(response.headers)
    headers.setdefault("Cache-Control", "no-cache")
    content_type = headers.pop("Content-Type", "application/scim+json")
    body = None if response.body is None else json.dumps(response.body)
    return web.Response(
        status=int(response.status), text=body, content_type=content_type, headers=headers
    )


async def scim_view(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    base_url = f"{request.app[SETTINGS].widgets.public_url}{ROOT}"
    body = await request.read()
    scim_request = ScimRequest(
        method=request.method,
        base_url=base_url,
        path=request.path.removeprefix(ROOT) or "/",
        query=dict(request.query),
        headers=list(request.headers.items()),
        body=standard_body(body) if body else body,
    )
    try:
        operation = service.match(scim_request).operation
        if operation is Operation.service_provider_config:  # no token needed (RFC 7644 §4)
            service.route(scim_request, operation)
            return _response(service.service_provider_config(scim_request.url, scim_request.query))
        return _response(await _serve(request, scim_request, operation))
    except SCIMException as exc:
        return _response(service.error_response(exc))
    except Exception:
        logger.exception("unhandled error serving SCIM %s %s", request.method, request.path)
        return _response(service.error_response(RuntimeError("internal error")))


WRITES = {Operation.create, Operation.replace, Operation.patch, Operation.delete}


async def _serve(
    request: web.Request, scim_request: ScimRequest, operation: Operation
) -> ScimResponse:
    service = request.app[SERVICE]
    sessions = request.app[SESSIONS]
    scheme, _, bearer = (request.headers.get("Authorization") or "").partition(" ")
    async with sessions() as session:
        token = await token_of(session, bearer.strip()) if scheme.lower() == "bearer" else None
    if token is None:
        raise UnauthorizedException(detail="send a live SCIM token as 'Authorization: Bearer …'")
    organisation = token.organisation
    writing = operation in WRITES
    if not writing:
        async with sessions() as session:
            storage = OrgStorage(session, organisation, MODELS, writing=False)
            return await AsyncScimHandler(service, storage).handle(scim_request)
    sync = request.app[SYNC]
    sync.config(organisation)  # an organisation without SCIM settings is refused at once
    return await sync.write(request.app, organisation, token.id, scim_request)


def _taken() -> UniquenessException:
    return UniquenessException(detail="a value that must be unique is taken")


async def _audit(
    session: AsyncSession, token_id: str, organisation: str, touched: Touched, outcome: FragmentSync
) -> None:
    for action, resource_id in touched.actions:
        await audit.record(
            session,
            actor=f"scim:{organisation}",
            action=action,
            target_ids=[resource_id],
            details={"organisation": organisation, "via": token_id, **outcome.details(touched)},
        )


def setup(app: web.Application) -> None:
    settings = app[SETTINGS]
    app[SERVICE] = ScimService(scim_provider())
    app[SYNC] = ScimSync(settings)

    async def applier(app: web.Application) -> AsyncIterator[None]:
        app[APPLY] = ScopedApply(app.get(SETTINGS_PATH), settings.scim.chart)
        yield
        for carrier in list(app[SYNC].carriers.values()):
            await carrier
        for task in list(app[APPLY].running.values()):
            await task

    app.cleanup_ctx.append(applier)
    app.router.add_route("*", ROOT + "{tail:(/.*)?}", scim_view)
    logger.debug("SCIM at %s%s", settings.widgets.public_url, ROOT)
