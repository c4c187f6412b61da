"""`make run`: Synapse on SQLite with Borough's modules, the example org chart applied, and
sign-in instructions for Element. State lives in ./var and survives restarts; Ctrl-C stops.
Meetings run on Element's own public Jitsi unless --jitsi-domain names another, and the
start-up message says which, so a demo meeting link always goes somewhere.
"""

from __future__ import annotations

import argparse
import json
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote

import yaml

from borough.org import load_org_chart
from borough.settings import ELEMENT_JITSI
from borough.testing.localsynapse import LocalSynapse, SynapseStartError
from synapse_modules import homeserver_modules

REPO = Path(__file__).resolve().parents[1]
VAR = REPO / "var"
ORG = REPO / "config" / "org.example.yaml"
SETTINGS = VAR / "borough.yaml"
STATE = VAR / "demo.json"


def _call(base_url: str, method: str, path: str, token: str, body: object = None) -> dict:
    request = urllib.request.Request(
        base_url + path,
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=30) as response:
        return json.loads(response.read() or b"{}")


def demo_settings(
    homeserver_url: str, server_name: str, state: dict, widgets_port: int, jitsi_domain: str
) -> dict:
    """The demo's var/borough.yaml, rewritten on every start from the stored accounts."""
    return {
        "homeserver": {"url": homeserver_url, "server_name": server_name},
        "service_account": {
            "user_id": state["service_user"],
            "access_token": state["service_token"],
        },
        "database": {"url": f"sqlite+aiosqlite:///{VAR / 'borough.db'}"},
        "bot": {"user_id": state["bot_user"], "access_token": state["bot_token"]},
        "widgets": {"port": widgets_port, "public_url": f"http://localhost:{widgets_port}"},
        "jitsi": {"domain": jitsi_domain},
    }


def meetings_line(jitsi_domain: str) -> str:
    """What the start-up message says about meetings: which Jitsi, and how to change it."""
    whose = "Element's own public Jitsi" if jitsi_domain == ELEMENT_JITSI else "your Jitsi"
    return (
        f"  Meetings:    !meet runs on https://{jitsi_domain} ({whose}; "
        "for another: .venv/bin/python scripts/run.py --jitsi-domain meet.example.gov.uk)"
    )


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8008)
    parser.add_argument("--server-name", default="borough.localhost")
    parser.add_argument("--widgets-port", type=int, default=8090)
    parser.add_argument(
        "--jitsi-domain",
        default=ELEMENT_JITSI,
        help=f"the Jitsi server for meetings (default: Element's own, {ELEMENT_JITSI})",
    )
    return parser.parse_args(argv)


def main() -> int:
    args = arguments()

    VAR.mkdir(exist_ok=True)
    state = json.loads(STATE.read_text()) if STATE.exists() else {}
    synapse = LocalSynapse(
        VAR / "synapse",
        server_name=args.server_name,
        port=args.port,
        modules=homeserver_modules(),
        registration_shared_secret=state.setdefault("shared_secret", secrets.token_hex(24)),
    )
    print(f"Starting Synapse on {synapse.base_url} (data in {VAR}) ...", flush=True)
    try:
        synapse.start()
    except SynapseStartError as exc:
        print(f"Synapse did not start: {exc}", file=sys.stderr)
        return 1
    try:
        if "service_token" not in state:
            user_id, token = synapse.register_user("borough", secrets.token_urlsafe(18), admin=True)
            state.update(service_user=user_id, service_token=token)
        if "bot_token" not in state:
            bot_id, bot_token = synapse.register_user("boroughbot", secrets.token_urlsafe(18))
            state.update(bot_user=bot_id, bot_token=bot_token)
        STATE.write_text(json.dumps(state))
        STATE.chmod(0o600)
        settings = demo_settings(
            synapse.base_url, synapse.server_name, state, args.widgets_port, args.jitsi_domain
        )
        SETTINGS.write_text(yaml.safe_dump(settings))
        SETTINGS.chmod(0o600)
        borough = [str(Path(sys.executable).parent / "borough"), "--settings", str(SETTINGS)]
        print(f"Applying {ORG.relative_to(REPO)} ...", flush=True)
        applied = subprocess.run([*borough, "apply", "--quiet", str(ORG)], check=False)
        if applied.returncode != 0:
            print("apply failed; see the messages above.", file=sys.stderr)
            return applied.returncode

        bot = subprocess.Popen([*borough, "bots", "run"])
        widgets = subprocess.Popen([*borough, "widgets", "serve"])
        services = {"the bot": bot, "the widget server": widgets}

        # One demo login: a fresh password each run, printed here and stored nowhere.
        chart = load_org_chart(ORG)  # the one loader every chart goes through
        demo = next(p for p in chart.people if p.role == "manager")
        demo_id = f"@{demo.username}:{synapse.server_name}"
        password = secrets.token_urlsafe(12)
        _call(
            synapse.base_url,
            "POST",
            f"/_synapse/admin/v1/reset_password/{quote(demo_id)}",
            state["service_token"],
            {"new_password": password, "logout_devices": False},
        )
        print(
            "\nBorough is running.\n"
            f"  Homeserver:  {synapse.base_url}   (server name {synapse.server_name})\n"
            "  In Element (desktop or web): Sign in > Edit homeserver > enter the URL above.\n"
            f"  Demo login:  {demo.username}  /  {password}   ({demo.display_name}, {demo.job_title or ''})\n"
            f"  Admin CLI:   .venv/bin/borough --settings {SETTINGS.relative_to(REPO)} plan {ORG.relative_to(REPO)}\n"
            f"  The bot:     start a chat with {state['bot_user']} and type !help\n"
            f"  Widgets:     http://localhost:{args.widgets_port}  (directory, timelines, public pages)\n"
            f"{meetings_line(args.jitsi_domain)}\n"
            "Press Ctrl-C to stop.",
            flush=True,
        )
        try:
            while synapse.running and all(p.poll() is None for p in services.values()):
                time.sleep(1)
            stopped = [name for name, p in services.items() if p.poll() is not None]
            print(
                f"{' and '.join(stopped) or 'Synapse'} exited; see the messages above "
                "and var/synapse/homeserver.log",
                file=sys.stderr,
            )
            return 1
        except KeyboardInterrupt:
            pass
        finally:
            for process in services.values():
                process.terminate()
            for process in services.values():
                process.wait(timeout=30)
    finally:
        synapse.stop()
        print("Stopped.")
    return 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _interrupt)
    sys.exit(main())
