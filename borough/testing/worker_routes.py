"""Which requests go to which Synapse process, as nginx config: the endpoint patterns of
Synapse's docs/workers.md for `synapse.app.generic_worker`, grouped by how they balance.
Everything else (the admin API, media, typing, receipts, to-device) goes to main, which
writes those streams. The test topology and config/deploy/nginx/ both render `nginx_site`,
and the widget server's replicas' `widgets_site`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from borough.testing.worker_layout import WorkerLayout

_CLIENT = "^/_matrix/client/(api/v1|r0|v3|unstable)"
_CLIENT_V3 = "^/_matrix/client/(r0|v3|unstable)"


class Pool(Enum):
    """An nginx upstream of Synapse processes, named by how it picks one."""

    MAIN = "synapse_main"  # the main process
    CLIENT = "synapse_client"  # the generic workers, round robin
    SYNC = "synapse_sync"  # the generic workers, one per access token
    ROOM = "synapse_room"  # the generic workers, one per room (pagination)
    FEDERATION_IN = "synapse_federation_in"  # the generic workers, one per remote address
    READS = "$synapse_reads"  # GET to the generic workers, writes to main (the stream writer)


@dataclass(frozen=True)
class Route:
    heading: str
    pattern: str
    pool: Pool


def _routes(heading: str, pool: Pool, *patterns: str) -> list[Route]:
    return [Route(heading, pattern, pool) for pattern in patterns]


ROUTES: tuple[Route, ...] = (
    *_routes(
        "Sync requests",
        Pool.SYNC,
        "^/_matrix/client/(r0|v3)/sync$",
        "^/_matrix/client/(api/v1|r0|v3)/events$",
        "^/_matrix/client/(api/v1|r0|v3)/initialSync$",
        "^/_matrix/client/(api/v1|r0|v3)/rooms/[^/]+/initialSync$",
    ),
    *_routes(
        "Pagination: every request for one room goes to one worker",
        Pool.ROOM,
        f"{_CLIENT}/rooms/(?<synapse_room>[^/]+)/messages$",
    ),
    *_routes(
        "Inbound federation transactions: one worker per remote server",
        Pool.FEDERATION_IN,
        "^/_matrix/federation/v1/send/",
    ),
    *_routes(
        "Federation requests",
        Pool.CLIENT,
        "^/_matrix/federation/v1/version$",
        "^/_matrix/federation/v1/event/",
        "^/_matrix/federation/v1/state/",
        "^/_matrix/federation/v1/state_ids/",
        "^/_matrix/federation/v1/backfill/",
        "^/_matrix/federation/v1/get_missing_events/",
        "^/_matrix/federation/v1/publicRooms",
        "^/_matrix/federation/v1/query/",
        "^/_matrix/federation/v1/make_join/",
        "^/_matrix/federation/v1/make_leave/",
        "^/_matrix/federation/(v1|v2)/send_join/",
        "^/_matrix/federation/(v1|v2)/send_leave/",
        "^/_matrix/federation/v1/make_knock/",
        "^/_matrix/federation/v1/send_knock/",
        "^/_matrix/federation/(v1|v2)/invite/",
        "^/_matrix/federation/v1/event_auth/",
        "^/_matrix/federation/v1/timestamp_to_event/",
        "^/_matrix/federation/v1/exchange_third_party_invite/",
        "^/_matrix/federation/v1/user/devices/",
        "^/_matrix/key/v2/query",
        "^/_matrix/federation/v1/hierarchy/",
    ),
    *_routes(
        "Client reads",
        Pool.CLIENT,
        f"{_CLIENT}/createRoom$",
        f"{_CLIENT}/publicRooms$",
        f"{_CLIENT}/rooms/.*/joined_members$",
        f"{_CLIENT}/rooms/.*/context/.*$",
        f"{_CLIENT}/rooms/.*/members$",
        f"{_CLIENT}/rooms/.*/state$",
        "^/_matrix/client/v1/rooms/.*/hierarchy$",
        "^/_matrix/client/(v1|unstable)/rooms/.*/relations/",
        "^/_matrix/client/v1/rooms/.*/threads$",
        "^/_matrix/client/unstable/im.nheko.summary/summary/.*$",
        "^/_matrix/client/v1/room_summary/.*$",
        f"{_CLIENT_V3}/account/3pid$",
        f"{_CLIENT_V3}/account/whoami$",
        f"{_CLIENT_V3}/account/deactivate$",
        "^/_matrix/client/(r0|v3)/delete_devices$",
        f"{_CLIENT}/devices(/|$)",
        "^/_matrix/client/versions$",
        f"{_CLIENT}/voip/turnServer$",
        f"{_CLIENT}/rooms/.*/event/",
        f"{_CLIENT}/joined_rooms$",
        "^/_matrix/client/v1/rooms/.*/timestamp_to_event$",
        "^/_matrix/client/(api/v1|r0|v3|unstable/.*)/rooms/.*/aliases",
        f"{_CLIENT}/search$",
        f"{_CLIENT_V3}/user/.*/filter(/|$)",
        f"{_CLIENT}/directory/room/.*$",
        f"{_CLIENT_V3}/capabilities$",
        f"{_CLIENT_V3}/notifications$",
        "^/_synapse/admin/v1/rooms/[^/]+$",
    ),
    *_routes(
        "Encryption",
        Pool.CLIENT,
        f"{_CLIENT_V3}/keys/query$",
        f"{_CLIENT_V3}/keys/changes$",
        f"{_CLIENT_V3}/keys/claim$",
        f"{_CLIENT_V3}/room_keys/",
        f"{_CLIENT_V3}/keys/upload",
        f"{_CLIENT}/keys/device_signing/upload$",
        f"{_CLIENT}/keys/signatures/upload$",
    ),
    *_routes(
        "Sign-in and registration",
        Pool.CLIENT,
        f"{_CLIENT}/login$",
        f"{_CLIENT_V3}/register$",
        f"{_CLIENT_V3}/register/available$",
        "^/_matrix/client/v1/register/m.login.registration_token/validity$",
        f"{_CLIENT_V3}/password_policy$",
    ),
    *_routes(
        "Sending events: room sends, state, joins and the rest of membership",
        Pool.CLIENT,
        f"{_CLIENT}/rooms/.*/redact",
        f"{_CLIENT}/rooms/.*/send",
        f"{_CLIENT}/rooms/.*/state/",
        f"{_CLIENT}/rooms/.*/(join|invite|leave|ban|unban|kick)$",
        f"{_CLIENT}/join/",
        f"{_CLIENT}/knock/",
        f"{_CLIENT}/profile/",
    ),
    *_routes(
        "User directory search",
        Pool.CLIENT,
        f"{_CLIENT_V3}/user_directory/search$",
    ),
    *_routes(
        "Reads of streams main writes: GET to the workers, changes to main",
        Pool.READS,
        f"{_CLIENT}/pushrules/",
        f"{_CLIENT_V3}/.*/tags",
        f"{_CLIENT_V3}/.*/account_data",
        f"{_CLIENT}/presence/",
        "^/_synapse/admin/v2/users/[^/]+$",
    ),
)


def _upstream(pool: Pool, balance: str | None, servers: list[int]) -> list[str]:
    lines = [f"upstream {pool.value} {{"]
    if balance:
        lines.append(f"    {balance};")
    lines += [f"    server 127.0.0.1:{port};" for port in servers]
    # After the balancing method, as nginx requires; keeps connections to Synapse open.
    lines += ["    keepalive 16;", "}"]
    return lines


def _admin_access(allow: list[str]) -> list[str]:
    return [*(f"allow {source};" for source in allow), "deny all;"]


def nginx_site(
    layout: WorkerLayout, listen: list[str], admin_allow: list[str], header: list[str]
) -> str:
    """The http-level maps and upstreams and one `server` block routing to `layout`.

    `listen` holds the server block's own lines (listen, server_name, TLS); `admin_allow`
    the addresses that may use Synapse's admin API (Borough's hosts); `header` comments."""
    generic = [w.port for w in layout.generic]
    out = [*(f"# {line}" if line else "#" for line in header), ""]
    out += [
        "# A sync is pinned to its access token (header or query), as workers.md suggests.",
        "map $http_authorization $synapse_sync_key {",
        "    default $http_authorization;",
        '    "" $arg_access_token;',
        "}",
        "",
        "map $request_method $synapse_reads {",
        f"    GET {Pool.CLIENT.value};",
        f"    default {Pool.MAIN.value};",
        "}",
        "",
    ]
    out += _upstream(Pool.MAIN, None, [layout.main_port])
    out += _upstream(Pool.CLIENT, "least_conn", generic)
    out += _upstream(Pool.SYNC, "hash $synapse_sync_key consistent", generic)
    out += _upstream(Pool.ROOM, "hash $synapse_room consistent", generic)
    out += _upstream(Pool.FEDERATION_IN, "hash $remote_addr consistent", generic)
    out += ["", "server {", *(f"    {line}" for line in listen)]
    out += [
        "    client_max_body_size 50M;",
        "    proxy_http_version 1.1;",
        '    proxy_set_header Connection "";',
        "    proxy_set_header Host $host;",
        "    proxy_set_header X-Forwarded-For $remote_addr;",
        "    proxy_set_header X-Forwarded-Proto $scheme;",
        "    proxy_read_timeout 600s;",
    ]
    heading = ""
    for route in ROUTES:
        if route.heading != heading:
            heading = route.heading
            out += ["", f"    # {heading}"]
        body = [f"proxy_pass http://{route.pool.value};"]
        if route.pattern.startswith("^/_synapse/admin"):
            body = [*_admin_access(admin_allow), *body]
        out.append(f"    location ~ {route.pattern} {{ {' '.join(body)} }}")
    out += [
        "",
        "    # The admin API: only for the machines that run Borough. Always main, but for the",
        "    # two admin reads above, which the workers serve.",
        "    location /_synapse/admin {",
        *(f"        {line}" for line in _admin_access(admin_allow)),
        f"        proxy_pass http://{Pool.MAIN.value};",
        "    }",
        "",
        "    # Everything else: main.",
        f"    location / {{ proxy_pass http://{Pool.MAIN.value}; }}",
        "}",
    ]
    return "\n".join(out) + "\n"


def pool_for(path: str) -> Pool:
    """The pool nginx_site sends `path` to: the first route whose pattern matches, as nginx
    tries regex locations in order, else main."""
    for route in ROUTES:
        # nginx's PCRE names a capture (?<name>…); Python's re spells it (?P<name>…).
        if re.search(route.pattern.replace("(?<", "(?P<"), path):
            return route.pool
    return Pool.MAIN


#: The nginx upstream of `borough widgets serve` replicas.
WIDGETS_UPSTREAM = "borough_widgets"


def widgets_site(ports: list[int], listen: list[str], header: list[str]) -> str:
    """The widget server's replicas behind nginx: one upstream of `ports` (on this machine)
    and the `server` block for `widgets.public_url`, with `listen` its own lines. The
    widget replicas test (tests/integration/test_widget_replicas.py) and config/deploy/nginx/
    both render it."""
    out = [*(f"# {line}" if line else "#" for line in header), ""]
    out += [
        "# A replica that fails once is left alone for 5 s; the others answer meanwhile.",
        f"upstream {WIDGETS_UPSTREAM} {{",
        *(f"    server 127.0.0.1:{port} max_fails=1 fail_timeout=5s;" for port in ports),
        "}",
        "",
        "server {",
        *(f"    {line}" for line in listen),
        "    proxy_set_header Host $host;",
        "    proxy_set_header X-Forwarded-For $remote_addr;",
        "    proxy_set_header X-Forwarded-Proto $scheme;",
        "    # A replica that refuses the connection (stopped or killed) never saw the request:",
        "    # nginx passes it on to the next (proxy_next_upstream error timeout, its default),",
        "    # POSTs included.",
        f"    location / {{ proxy_pass http://{WIDGETS_UPSTREAM}; }}",
        "    # A request cut off by a replica's death mid-answer is asked again of the next one",
        "    # where that is safe: token checks change nothing, a widget session is signed, not",
        "    # stored, and a meeting link records its admission once however often it is asked.",
        "    # Not SCIM's writes: those go to one replica, and the client retries.",
        "    location ~ ^/(verify/|meet/|widgets/api/session$) {",
        "        proxy_next_upstream error timeout non_idempotent;",
        f"        proxy_pass http://{WIDGETS_UPSTREAM};",
        "    }",
        "}",
    ]
    return "\n".join(out) + "\n"
