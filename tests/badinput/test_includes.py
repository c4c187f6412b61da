"""`include:` entries that reach outside the chart's folder, name devices or special files,
or name fragments that are not fragments. Each is refused at the include's line, and no
answer ever quotes a file that is not an org chart."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.badinput.corpus import HANG_GUARD_SECONDS, Case, answered, run_borough
from tests.badinput.test_chart_yaml import billion_laughs

pytestmark = pytest.mark.timeout(HANG_GUARD_SECONDS, func_only=True)

FRAGMENTS = Path(__file__).parents[1] / "fixtures" / "fragments"
#: In every file outside the chart's folder: an answer that shows it has leaked the file.
CANARY = "CANARY-SECRET-LINE"
HEALTH = "organisation: fhealth\n"
INCLUDE_AT = r"main\.yaml:2:\d+ include(\[0\])?: "
#: An include that names something unreadable may be reported at that path instead.
AT_PATH = r"(main\.yaml:2:\d+ include(\[0\])?: |chart(/\S*)?: )"
#: Where a fragment's own problems are reported.
FRAGMENT_AT = r"x\.yaml(:\d+:\d+)?:? "


def write(relative: str, content: str | bytes) -> Callable[[Path], None]:
    def setup(chart: Path) -> None:
        path = chart / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")

    return setup


def link(relative: str, target: str) -> Callable[[Path], None]:
    """A symlink in the chart's folder; `{outside}` in the target is the folder beside it."""

    def setup(chart: Path) -> None:
        path = chart / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.symlink_to(target.format(outside=chart.parent / "outside"))

    return setup


def fifo(relative: str) -> Callable[[Path], None]:
    def setup(chart: Path) -> None:
        os.mkfifo(chart / relative)

    return setup


@dataclass(frozen=True)
class IncludeCase(Case):
    #: What follows `include:` in the main file.
    include: str = "[orgs/x.yaml]"
    setup: tuple[Callable[[Path], None], ...] = field(default=())


ESCAPE = INCLUDE_AT + r".*(outside|inside|folder|directory)"
NOT_A_FILE = INCLUDE_AT + r".*(not a (regular )?file|outside|inside|folder|directory|special)"
# One case a line, read as a table.
# fmt: off
CASES = [
    # --- Out of the chart's folder, by path or by link ---
    IncludeCase("parent-escape", ESCAPE, "[../outside/secret.yaml]"),
    IncludeCase("deep-escape-etc-passwd", ESCAPE, "[../../../../../../../../etc/passwd]"),
    IncludeCase("escape-and-back", ESCAPE, "[orgs/../../outside/secret.yaml]"),
    IncludeCase("absolute-etc-passwd", ESCAPE, "[/etc/passwd]"),
    IncludeCase("absolute-etc-shadow", ESCAPE, "[/etc/shadow]"),
    IncludeCase("absolute-etc-hostname", ESCAPE, "[/etc/hostname]"),
    IncludeCase("absolute-proc-environ", ESCAPE, "[/proc/self/environ]"),
    IncludeCase("absolute-proc-cmdline", ESCAPE, "[/proc/self/cmdline]"),
    IncludeCase("absolute-proc-status", ESCAPE, "[/proc/self/status]"),
    IncludeCase("absolute-dev-zero", ESCAPE, "[/dev/zero]"),
    IncludeCase("absolute-dev-urandom", ESCAPE, "[/dev/urandom]"),
    IncludeCase("absolute-dev-null", ESCAPE, "[/dev/null]"),
    IncludeCase("home-directory", r"include\[0\]: .*(outside|inside|folder|directory|not found)", "['~/secret.yaml']"),
    IncludeCase("symlink-to-outside-file", ESCAPE, setup=(link("orgs/x.yaml", "{outside}/secret.yaml"),)),
    IncludeCase("symlink-to-etc-passwd", ESCAPE, setup=(link("orgs/x.yaml", "/etc/passwd"),)),
    IncludeCase("symlink-to-dev-zero", ESCAPE + r"|" + NOT_A_FILE, setup=(link("orgs/x.yaml", "/dev/zero"),)),
    IncludeCase("symlink-to-proc-environ", ESCAPE, setup=(link("orgs/x.yaml", "/proc/self/environ"),)),
    IncludeCase("symlinked-folder-outside", ESCAPE, "[linked/secret.yaml]", (link("linked", "{outside}"),)),
    IncludeCase("symlink-chain-outside", ESCAPE, setup=(link("orgs/x.yaml", "y.yaml"), link("orgs/y.yaml", "{outside}/secret.yaml"))),
    IncludeCase("dangling-symlink", INCLUDE_AT + r".*(not found|outside|inside)", setup=(link("orgs/x.yaml", "/nonexistent/x.yaml"),)),
    IncludeCase("symlink-loop", AT_PATH + r".*(loop|not found|cannot read|outside|symbolic)", setup=(link("orgs/x.yaml", "y.yaml"), link("orgs/y.yaml", "x.yaml"))),
    # --- Not fragment files ---
    IncludeCase("fifo-in-folder", NOT_A_FILE, "[pipe.yaml]", (fifo("pipe.yaml"),)),
    IncludeCase("a-directory", AT_PATH + r".*(director|not a (regular )?file|cannot read)", "[orgs]"),
    IncludeCase("the-folder-itself", AT_PATH + r".*(director|not a (regular )?file|cannot read)", "['.']"),
    IncludeCase("empty-path", AT_PATH + r".*(empty|director|not a (regular )?file|cannot read|give)", "['']"),
    IncludeCase("nul-in-path", AT_PATH + r".*(null|NUL|character|cannot read|not found)", '["orgs/\\0x.yaml"]'),
    IncludeCase("very-long-path", AT_PATH + r".*(too long|cannot read|not found)", "[" + "a" * 5000 + ".yaml]"),
    IncludeCase("missing-file", INCLUDE_AT + r"fragment file not found", "[orgs/missing.yaml]"),
    IncludeCase("missing-folder", INCLUDE_AT + r"fragment file not found", "[nowhere/missing.yaml]"),
    IncludeCase("url", INCLUDE_AT + r".*(not found|outside)", "['https://example.org/x.yaml']"),
    IncludeCase("glob", INCLUDE_AT + r"fragment file not found", "['orgs/*.yaml']"),
    IncludeCase("self-include", INCLUDE_AT + r".*(itself|main file|fragment|organisation)", "[main.yaml]"),
    IncludeCase("include-twice", r"already has a fragment", "[orgs/fhealth.yaml, orgs/fhealth.yaml]"),
    IncludeCase("fragment-includes-again", FRAGMENT_AT + r".*include.*(unknown|not allowed|cannot)", setup=(write("orgs/x.yaml", "organisation: fhealth\ninclude: [../main.yaml]\n"),)),
    IncludeCase("fragment-of-unknown-organisation", FRAGMENT_AT + r".*organisation.*'nobody'", setup=(write("orgs/x.yaml", "organisation: nobody\n"),)),
    IncludeCase("fragment-without-organisation", FRAGMENT_AT + r".*organisation", setup=(write("orgs/x.yaml", "people: []\n"),)),
    IncludeCase("fragment-admins-without-the-main-files-leave", FRAGMENT_AT + r"admins: the main file does not let this fragment name admins of 'fhealth'.*fragment_may_add_admins: true", setup=(write("orgs/x.yaml", HEALTH + "admins: [hadmin]\n"),)),
    IncludeCase("fragment-admins-a-string", FRAGMENT_AT + r"admins: expected a list", setup=(write("orgs/x.yaml", HEALTH + "admins: hadmin\n"),)),
    IncludeCase("fragment-png", FRAGMENT_AT + r".*(UTF-8|encoding|not valid YAML|cannot read)", setup=(write("orgs/x.yaml", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe"),)),
    IncludeCase("fragment-prose", FRAGMENT_AT + r".*(expected a mapping|organisation)", setup=(write("orgs/x.yaml", "Minutes of the meeting held on Tuesday.\n"),)),
    IncludeCase("fragment-csv", FRAGMENT_AT + r".*(expected a mapping|organisation)", setup=(write("orgs/x.yaml", "a,b,c\n1,2,3\n"),)),
    IncludeCase("fragment-empty", FRAGMENT_AT + r".*(empty|expected a mapping|organisation)", setup=(write("orgs/x.yaml", ""),)),
    IncludeCase("fragment-a-list", FRAGMENT_AT + r".*(expected a mapping|organisation)", setup=(write("orgs/x.yaml", "- organisation: fhealth\n"),)),
    IncludeCase("fragment-latin-1", FRAGMENT_AT + r".*(UTF-8|utf-8|encoding)", setup=(write("orgs/x.yaml", "organisation: fhealth\n# caf\u00e9\n".encode("latin-1")),)),
    IncludeCase("fragment-alias-bomb", FRAGMENT_AT + r".*alias", setup=(write("orgs/x.yaml", billion_laughs().replace("organisations: *a9", "") + HEALTH),)),
    IncludeCase("fragment-recursive-alias", FRAGMENT_AT + r".*(alias|recurs|refers to itself)", setup=(write("orgs/x.yaml", HEALTH + "units: &u [*u]\n"),)),
    IncludeCase("fragment-custom-tag", FRAGMENT_AT + r".*tag.*!foo", setup=(write("orgs/x.yaml", HEALTH + "units: !foo [a]\n"),)),
    IncludeCase("fragment-merge-key", FRAGMENT_AT + r".*(<<|merge)", setup=(write("orgs/x.yaml", HEALTH + "b: &b {name: B}\nunits:\n  - key: hx\n    <<: *b\n"),)),
    IncludeCase("fragment-deep-nesting", FRAGMENT_AT + r".*(nest|deep)", setup=(write("orgs/x.yaml", HEALTH + "units: " + "[" * 50_000 + "]" * 50_000 + "\n"),)),
    IncludeCase("fragment-huge", FRAGMENT_AT + r".*(too (large|big|long)|MB|bytes)", setup=(write("orgs/x.yaml", HEALTH + "# padding\n" * 1_700_000),)),
    # --- `include:` itself of the wrong shape ---
    IncludeCase("include-a-string", INCLUDE_AT + r"give a list", "orgs/fhealth.yaml"),
    IncludeCase("include-a-number", INCLUDE_AT + r"give a list", "5"),
    IncludeCase("include-numbers", INCLUDE_AT + r"give a list", "[5, 6]"),
    IncludeCase("include-null-item", INCLUDE_AT + r"give a list", "[~]"),
    IncludeCase("include-a-mapping", INCLUDE_AT + r"give a list", "{orgs: fhealth.yaml}"),
    IncludeCase("include-nested-list", INCLUDE_AT + r"give a list", "[[orgs/fhealth.yaml]]"),
    IncludeCase("include-null", INCLUDE_AT + r"give a list", "~"),
]
# fmt: on


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_bad_include(case: IncludeCase, tmp_path: Path) -> None:
    chart = tmp_path / "chart"
    shutil.copytree(FRAGMENTS, chart, ignore=shutil.ignore_patterns("bad"))
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.yaml").write_text(f"organisation: fhealth\npassword: {CANARY}\n")
    main = chart / "main.yaml"
    text = main.read_text(encoding="utf-8")
    main.write_text(
        text.replace("include: [orgs/fhealth.yaml]", f"include: {case.include}"), encoding="utf-8"
    )
    for setup in case.setup:
        setup(chart)
    answer = run_borough("validate", str(main))
    answered(case, answer.text, answer.elapsed, answer.logs)
    assert CANARY not in answer.text and "root:" not in answer.text, answer.text[:2000]
    assert answer.exit_code == (0 if case.expect.startswith("^OK") else 2), answer.text[:2000]
