"""Bad org charts given to `borough validate`: malformed YAML, wrong types, unknown references,
cycles, YAML's dangerous features (alias bombs, tags, merge keys, recursion), sizes and
encodings. Each is answered with exit 2 and `file:line:col path: what is wrong`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.badinput.corpus import HANG_GUARD_SECONDS, Case, answered, run_borough

pytestmark = pytest.mark.timeout(HANG_GUARD_SECONDS, func_only=True)

BASE = (Path(__file__).parents[1] / "fixtures" / "org" / "small.yaml").read_text(encoding="utf-8")
#: Every position in an answer: the file, its line and column.
AT = r"org\.yaml:\d+:\d+"


def swap(old: str, new: str) -> str:
    assert old in BASE, old
    return BASE.replace(old, new, 1)


def plus(text: str) -> str:
    return BASE + text


def people(count: int, line: Callable[[int], str]) -> str:
    """A chart of one organisation and `count` people, each written by `line(i)`."""
    return "organisations: [{key: o, name: O, kind: council}]\npeople:\n" + "".join(
        f"  - {line(i)}\n" for i in range(count)
    )


def units(count: int, line: Callable[[int], str]) -> str:
    return "organisations: [{key: o, name: O, kind: council}]\nunits:\n" + "".join(
        f"  - {line(i)}\n" for i in range(count)
    )


def billion_laughs(levels: int = 10, width: int = 10) -> str:
    lines = ['a0: &a0 "lol"']
    for level in range(1, levels):
        refs = ", ".join([f"*a{level - 1}"] * width)
        lines.append(f"a{level}: &a{level} [{refs}]")
    return "\n".join(lines) + f"\norganisations: *a{levels - 1}\n"


@dataclass(frozen=True)
class ChartCase(Case):
    content: str | bytes = ""


OK = r"^OK: "
#: Either accepted or refused with a place: standard YAML that the loader may take or leave.
EITHER = r"(?:^OK: )"
# One case a line, read as a table.
# fmt: off
CASES = [
    # --- Malformed YAML: the parser's message, at the line and column ---
    ChartCase("unclosed-flow-sequence", AT + r".*not valid YAML", swap("units: [tteam]", "units: [tteam")),
    ChartCase("unclosed-flow-mapping", AT + r".*not valid YAML", swap("{username: tnew,", "{username: tnew, [")),
    ChartCase("unclosed-double-quote", AT + r".*not valid YAML", swap("name: Test Council", 'name: "Test Council')),
    ChartCase("unclosed-single-quote", AT + r".*not valid YAML", swap("name: Test Council", "name: 'Test Council")),
    ChartCase("mapping-in-plain-scalar", AT + r".*not valid YAML", swap("name: Test Council", "name: Test: Council: x")),
    ChartCase("bad-indentation", AT + r".*not valid YAML", swap("    name: Test Police", "      name: Test Police")),
    ChartCase("tab-indentation", AT + r".*not valid YAML", swap("    name: Test Police", "\tname: Test Police")),
    ChartCase("stray-dash", AT + r".*not valid YAML", swap("units:\n", "units:\n- \n  -- x\n")),
    ChartCase("bad-escape", AT + r".*not valid YAML", swap("name: Test Council", 'name: "Test \\q Council"')),
    ChartCase("at-sign-start", AT + r".*not valid YAML", swap("name: Test Council", "name: @council")),
    ChartCase("backtick-start", AT + r".*not valid YAML", swap("name: Test Council", "name: `council`")),
    ChartCase("yaml-directive-9", AT + r".*not valid YAML", "%YAML 9.9\n---\n" + BASE),
    ChartCase("two-documents", AT + r".*(single|one YAML) document", BASE + "\n---\n" + BASE),
    ChartCase("undefined-alias", AT + r".*(not valid YAML|alias)", swap("admins: [tadmin]", "admins: *nope")),
    ChartCase("anchor-without-node-in-flow", AT + r".*not valid YAML", swap("units: [tteam]", "units: [&a, ]]")),
    ChartCase("duplicate-key", AT + r" organisations\[0\]\.name: duplicate key", swap("    name: Test Council", "    name: Test Council\n    name: Other")),
    ChartCase("duplicate-top-level-key", AT + r" units: duplicate key", plus("units: []\n")),
    ChartCase("block-scalar-bad-indicator", AT + r".*not valid YAML", swap("name: Test Council", "name: |x\n      text")),
    ChartCase("document-end-then-text", AT + r".*not valid YAML", BASE + "\n...\nfoo: [\n"),
    ChartCase("lone-colon-key", AT + r".*not valid YAML", swap("units:\n", "units:\n: :\n")),
    # --- The wrong shape at the top ---
    ChartCase("empty-file", r"org\.yaml.*(empty|expected a mapping)", ""),
    ChartCase("only-comments", r"org\.yaml.*(empty|expected a mapping)", "# nothing here\n# at all\n"),
    ChartCase("only-document-marker", r"org\.yaml.*(empty|expected a mapping)", "---\n"),
    ChartCase("only-whitespace", r"org\.yaml.*(empty|expected a mapping)", "   \n\n  \n"),
    ChartCase("top-level-list", r"org\.yaml:1:1.*expected a mapping", "- organisations\n- units\n"),
    ChartCase("top-level-scalar", r"org\.yaml:1:1.*expected a mapping", "just some words\n"),
    ChartCase("top-level-number", r"org\.yaml:1:1.*expected a mapping", "42\n"),
    ChartCase("top-level-null", r"org\.yaml.*(empty|expected a mapping)", "~\n"),
    ChartCase("no-organisations", r"organisations: this field is required", "units: []\n"),
    ChartCase("organisations-empty", AT + r" organisations: .*at least 1", swap("organisations:\n", "organisations: []\nx_organisations:\n")),
    # --- Wrong types and values, named by their dotted path ---
    ChartCase("organisations-a-string", AT + r" organisations: ", "organisations: council\n"),
    ChartCase("organisations-numbers", AT + r" organisations\[0\]", "organisations: [1, 2]\n"),
    ChartCase("units-a-mapping", AT + r" units: ", swap("units:\n", "units: {a: b}\nx_units:\n")),
    ChartCase("version-2", AT + r" version: ", "version: 2\n" + BASE),
    ChartCase("version-huge", AT + r" version: ", "version: 99999999999999999999999999999\n" + BASE),
    ChartCase("version-float-inf", AT + r" version: ", "version: .inf\n" + BASE),
    ChartCase("unknown-top-level-field", AT + r" organisation: unknown field 'organisation'.*did you mean 'organisations'", plus("organisation: []\n")),
    ChartCase("unknown-person-field", AT + r" people\[1\]\.managr: unknown field 'managr'.*did you mean 'manager'", swap("role: manager, manager: tadmin", "role: manager, managr: tadmin")),
    ChartCase("unknown-unit-field", AT + r" units\[0\]\.colour: unknown field", swap("    name: Test Directorate", "    name: Test Directorate\n    colour: red")),
    ChartCase("organisation-key-uppercase", AT + r" organisations\[0\]\.key: 'TCOUNCIL' is not allowed", BASE.replace("tcouncil", "TCOUNCIL")),
    ChartCase("organisation-key-spaces", AT + r" organisations\[0\]\.key: ", swap("key: tcouncil", "key: 'test council'")),
    ChartCase("organisation-key-empty", AT + r" organisations\[0\]\.key: ", swap("key: tcouncil", "key: ''")),
    ChartCase("organisation-key-huge", AT + r" organisations\[0\]\.key: ", swap("key: tcouncil", "key: " + "k" * 5000)),
    ChartCase("organisation-kind-unknown", AT + r" organisations\[0\]\.kind: ", swap("kind: council", "kind: empire")),
    ChartCase("organisation-kind-list", AT + r" organisations\[0\]\.kind: ", swap("kind: council", "kind: [council]")),
    ChartCase("organisation-name-empty", AT + r" organisations\[0\]\.name: ", swap("name: Test Council", "name: ''")),
    ChartCase("organisation-name-null", AT + r" organisations\[0\]\.name: ", swap("name: Test Council", "name:")),
    ChartCase("organisation-name-mapping", AT + r" organisations\[0\]\.name: ", swap("name: Test Council", "name: {en: Council}")),
    ChartCase("email-domain-bad", AT + r" organisations\[0\]\.email_domains\[0\]: ", swap("email_domains: [test.gov.uk]", "email_domains: ['@test gov']")),
    ChartCase("email-domains-a-string", AT + r" organisations\[0\]\.email_domains", swap("email_domains: [test.gov.uk]", "email_domains: 5")),
    ChartCase("person-username-number", AT + r" people\[3\]\.username: ", swap("username: tnew", "username: 12345")),
    ChartCase("person-username-capitals", AT + r" people\[3\]\.username: ", swap("username: tnew", "username: 'Theo New'")),
    ChartCase("person-username-colon", AT + r" people\[3\]\.username: ", swap("username: tnew", "username: 'tnew:evil.org'")),
    ChartCase("person-display-name-too-long", AT + r" people\[3\]\.display_name: .*at most 256", swap("display_name: Theo New", "display_name: " + "T" * 300)),
    ChartCase("person-display-name-list", AT + r" people\[3\]\.display_name: ", swap("display_name: Theo New", "display_name: [Theo, New]")),
    ChartCase("person-role-unknown", AT + r" people\[3\]\.role: ", swap("units: [tsub], manager: tmgr}", "units: [tsub], manager: tmgr, role: emperor}")),
    ChartCase("person-email-invalid", AT + r" people\[0\]\.email: ", swap("email: tess@test.gov.uk", "email: not-an-email")),
    ChartCase("person-email-wrong-domain", AT + r" people\[0\]\.email: .*email domains", swap("email: tess@test.gov.uk", "email: tess@gmail.com")),
    ChartCase("person-units-a-number", AT + r" people\[3\]\.units", swap("units: [tsub], manager: tmgr}", "units: 7, manager: tmgr}")),
    ChartCase("person-missing-organisation", AT + r" people\[3\]\.organisation: this field is required", swap("display_name: Theo New, organisation: tcouncil,", "display_name: Theo New,")),
    ChartCase("person-profile-visibility-bad", AT + r" people\[2\]\.profile\.phone\.visibility: ", swap("visibility: staff", "visibility: everyone")),
    ChartCase("person-profile-unknown-field", AT + r" people\[2\]\.profile\.shoe_size: unknown field", swap("profile: {bio: Hello,", "profile: {shoe_size: 9, bio: Hello,")),
    ChartCase("person-a-string", AT + r" people\[0\]", swap("people:\n", "people:\n  - tnobody\n")),
    ChartCase("channel-sealed-not-bool", AT + r" channels\[0\]\.sealed: ", swap("sealed: true", "sealed: maybe")),
    ChartCase("channel-max-length-zero", AT + r" channels\[0\]\.max_length: ", swap("sealed: true", "sealed: true\n    max_length: 0")),
    ChartCase("channel-max-length-huge", AT + r" channels\[0\]\.max_length: ", swap("sealed: true", "sealed: true\n    max_length: 99999999999999999999999")),
    ChartCase("channel-max-length-float", AT + r" channels\[0\]\.max_length: ", swap("sealed: true", "sealed: true\n    max_length: 1e309")),
    ChartCase("channel-sealed-and-public", AT + r" channels\[0\].*sealed channel cannot be public", swap("sealed: true", "sealed: true\n    public: true")),
    ChartCase("channel-posters-a-number", AT + r" channels\[0\]\.posters", swap("posters: {roles: [senior_manager]}", "posters: 5")),
    ChartCase("channel-owner-both", AT + r" channels\[0\]\.owner", swap("owner: {unit: tdir}", "owner: {unit: tdir, partnership: tpartners}")),
    ChartCase("template-widget-unknown", AT + r" room_templates\.x\.widgets.*unknown widget 'clock'", plus("room_templates:\n  x: {name: X, widgets: [clock]}\n")),
    ChartCase("template-key-bad", AT + r" room_templates", plus("room_templates:\n  'Bad Key!': {name: X}\n")),
    ChartCase("template-channel-and-blog", AT + r" room_templates\.x.*channel or a blog", plus("room_templates:\n  x: {name: X, channel: {}, blog: {}}\n")),
    ChartCase("defaults-unit-rooms-string", AT + r" defaults\.unit_rooms", plus("defaults: {unit_rooms: 5}\n")),
    ChartCase("key-is-a-list", AT + r" organisations\[0\]", swap("  - key: tcouncil\n", "  - ? [a, b]\n    : x\n    key: tcouncil\n")),
    ChartCase("numeric-key", AT + r" organisations\[0\]\.1: unknown field", swap("    name: Test Council", "    name: Test Council\n    1: one")),
    ChartCase("null-key", AT + r" organisations\[0\]\.None: unknown field|organisations\[0\].*(null|None)", swap("    name: Test Council", "    name: Test Council\n    ~: nothing")),
    ChartCase("boolean-key", AT + r" organisations\[0\]\.True: unknown field|organisations\[0\].*(true|True)", swap("    name: Test Council", "    name: Test Council\n    yes: indeed")),
    # --- References to things that do not exist ---
    ChartCase("unit-parent-unknown", AT + r" units\[1\]\.parent: unknown unit 'tdirr'.*did you mean 'tdir'", swap("parent: tdir", "parent: tdirr")),
    ChartCase("unit-organisation-unknown", AT + r" units\[0\]\.organisation: .*'tcouncl'", swap("organisation: tcouncil\n  - key: tteam", "organisation: tcouncl\n  - key: tteam")),
    ChartCase("person-organisation-unknown", AT + r" people\[3\]\.organisation: .*'nowhere'", swap("display_name: Theo New, organisation: tcouncil", "display_name: Theo New, organisation: nowhere")),
    ChartCase("person-unit-unknown", AT + r" people\[3\]\.units\[0\]: .*'tsubb'", swap("units: [tsub], manager: tmgr}", "units: [tsubb], manager: tmgr}")),
    ChartCase("person-manager-unknown", AT + r" people\[3\]\.manager: .*'tmgrr'", swap("units: [tsub], manager: tmgr}", "units: [tsub], manager: tmgrr}")),
    ChartCase("admin-unknown", AT + r" organisations\[0\]\.admins\[0\]: .*'tadmn'", swap("admins: [tadmin]", "admins: [tadmn]")),
    ChartCase("admin-of-other-organisation", AT + r" organisations\[1\]\.admins\[0\]: .*tadmin", swap("admins: [tcop]", "admins: [tadmin]")),
    ChartCase("partnership-unit-unknown", AT + r" partnerships\[0\]\.units\[0\]: .*'nounit'", swap("    units: [tteam]\n    organisations", "    units: [nounit]\n    organisations")),
    ChartCase("partnership-organisation-unknown", AT + r" partnerships\[0\]\.organisations\[0\]: .*'nopolice'", swap("organisations: [tpolice]", "organisations: [nopolice]")),
    ChartCase("channel-owner-unit-unknown", AT + r" channels\[0\]\.owner\.unit: .*'nodir'", swap("owner: {unit: tdir}", "owner: {unit: nodir}")),
    ChartCase("channel-posters-person-unknown", AT + r" channels\[0\]\.posters\.people\[0\]: .*'ghost'", swap("posters: {roles: [senior_manager]}", "posters: {people: [ghost]}")),
    ChartCase("unit-room-template-unknown", AT + r" units\[2\]\.rooms\[0\]: .*'genral'", swap("    parent: tteam\n    rooms: [general]", "    parent: tteam\n    rooms: [genral]")),
    ChartCase("unit-without-organisation-or-parent", AT + r" units\[0\].*(organisation|parent)", swap("    name: Test Directorate\n    organisation: tcouncil", "    name: Test Directorate")),
    ChartCase("person-in-unit-of-other-org", AT + r" people\[4\]\.units\[0\]: .*belongs to 'tcouncil'", swap("units: [tbeat], role: partner", "units: [tdir], role: partner")),
    ChartCase("duplicate-unit-key", AT + r" units\[3\]\.key: .*tteam", swap("  - key: tbeat", "  - key: tteam")),
    ChartCase("duplicate-username", AT + r" people\[3\]\.username: .*tstaff", swap("username: tnew", "username: tstaff")),
    ChartCase("duplicate-organisation-key", AT + r" organisations\[1\]\.key: .*tcouncil", swap("key: tpolice", "key: tcouncil")),
    ChartCase("sealed-channel-without-posters", AT + r" channels\[0\]", swap("    posters: {roles: [senior_manager]}", "    posters: {people: [tcop]}")),
    # --- Cycles: found, named briefly, and in linear time ---
    ChartCase("unit-parent-self", AT + r" units\[0\]\.parent: .*(cycle|its own parent)", swap("    organisation: tcouncil\n  - key: tteam", "    organisation: tcouncil\n    parent: tdir\n  - key: tteam")),
    ChartCase("unit-parent-two-cycle", AT + r" units\[\d\]\.parent: .*cycle", swap("    organisation: tcouncil\n  - key: tteam", "    organisation: tcouncil\n    parent: tteam\n  - key: tteam")),
    ChartCase("unit-parent-three-cycle", AT + r" units\[\d\]\.parent: .*cycle", swap("    organisation: tcouncil\n  - key: tteam", "    organisation: tcouncil\n    parent: tsub\n  - key: tteam")),
    ChartCase("manager-self", AT + r" people\[3\]\.manager: .*(cycle|own manager|themselves)", swap("units: [tsub], manager: tmgr}", "units: [tsub], manager: tnew}")),
    ChartCase("manager-two-cycle", AT + r" people\[\d\]\.manager: .*cycle", swap("role: senior_manager, email", "role: senior_manager, manager: tmgr, email")),
    ChartCase(
        "unit-parent-cycle-1500",
        AT + r" units\[\d+\]\.parent: .*cycle",
        units(1500, lambda i: f"{{key: u{i}, name: U{i}, parent: u{(i + 1) % 1500}}}"),
    ),
    ChartCase(
        "manager-cycle-1500",
        AT + r" people\[\d+\]\.manager: .*cycle",
        people(1500, lambda i: f"{{username: p{i}, display_name: P{i}, organisation: o, manager: p{(i + 1) % 1500}}}"),
    ),
    ChartCase(
        "unknown-units-2000",
        AT + r" people\[\d+\]\.units\[0\]: unknown unit",
        people(2000, lambda i: f"{{username: p{i}, display_name: P{i}, organisation: o, units: [nowhere{i}]}}"),
    ),
    # --- YAML's dangerous features: bounded, refused with a place ---
    ChartCase("billion-laughs", AT + r".*alias", billion_laughs()),
    ChartCase("billion-laughs-in-a-name", AT + r".*alias", billion_laughs().replace("organisations: *a9", "") + swap("name: Test Council", "name: *a9")),
    ChartCase("billion-laughs-in-people", AT + r".*alias", billion_laughs(9, 12).replace("organisations: *a8", "") + swap("units: [tsub], manager: tmgr}", "units: *a8, manager: tmgr}")),
    ChartCase("wide-alias-fanout", AT + r".*alias", 'x: &x "' + "y" * 1000 + '"\n' + "z: [" + ", ".join(["*x"] * 200_000) + "]\n" + BASE),
    ChartCase("alias-to-big-mapping-many-times", AT + r".*alias", "big: &big {" + ", ".join(f"k{i}: v" for i in range(5000)) + "}\nrefs: [" + ", ".join(["*big"] * 5000) + "]\n" + BASE),
    ChartCase("recursive-sequence-alias", AT + r".*(alias|recurs|refers to itself)", "loop: &l [*l]\n" + BASE),
    ChartCase("recursive-mapping-alias", AT + r".*(alias|recurs|refers to itself)", "loop: &m {a: *m}\n" + BASE),
    ChartCase("recursive-alias-as-organisations", AT + r".*(alias|recurs|refers to itself)", "organisations: &o [*o]\n"),
    ChartCase("recursive-alias-deep", AT + r".*(alias|recurs|refers to itself)", "loop: &l [[[[[*l]]]]]\n" + BASE),
    ChartCase("custom-tag", AT + r".*tag.*!foo", swap("name: Test Council", "name: !foo Test Council")),
    ChartCase("custom-tag-on-mapping", AT + r".*tag.*!org", swap("organisations:\n  - key: tcouncil", "organisations:\n  - !org\n    key: tcouncil")),
    ChartCase("python-object-tag", AT + r".*tag.*python", swap("name: Test Council", "name: !!python/object/apply:os.system ['true']")),
    ChartCase("python-name-tag", AT + r".*tag.*python", swap("name: Test Council", "name: !!python/name:os.system")),
    ChartCase("binary-tag", AT + r".*tag !!binary is not allowed", swap("name: Test Council", "name: !!binary aGVsbG8=")),
    ChartCase("set-tag", AT + r".*tag !!set is not allowed", swap("admins: [tadmin]", "admins: !!set {tadmin: null}")),
    ChartCase("timestamp-as-name", AT + r" organisations\[0\]\.name: ", swap("name: Test Council", "name: 2026-12-03")),
    ChartCase("omap-tag", AT + r".*tag !!omap is not allowed", swap("  - key: tcouncil\n", "  - !!omap [{key: tcouncil}]\n  - key: tcx\n")),
    ChartCase("merge-key", AT + r".*(<<|merge)", "base: &b {kind: council, name: B}\n" + swap("  - key: tpolice\n    name: Test Police\n    kind: police\n", "  - key: tpolice\n    <<: *b\n")),
    ChartCase("merge-key-list", AT + r".*(<<|merge)", "base: &b {kind: council}\nbase2: &c {name: B}\n" + swap("  - key: tpolice\n    name: Test Police\n    kind: police\n", "  - key: tpolice\n    <<: [*b, *c]\n")),
    ChartCase("merge-key-scalar", AT + r".*(<<|merge)", swap("    name: Test Police\n", "    <<: 5\n    name: Test Police\n")),
    ChartCase("merge-key-bomb", AT + r".*(<<|merge|alias)", billion_laughs(7, 8).replace("organisations: *a6", "") + "m: &m {x: *a6}\n" + swap("    name: Test Police\n", "    <<: *m\n    name: Test Police\n")),
    ChartCase("alias-as-key", AT + r".*(alias|key)", "k: &k [a, b]\n" + swap("    name: Test Police\n", "    *k : x\n    name: Test Police\n")),
    # --- Sizes and nesting: refused with a limit, not a crash or a long wait ---
    ChartCase("deep-flow-sequence", AT + r".*(nest|deep)", "x: " + "[" * 50_000 + "]" * 50_000 + "\n" + BASE),
    ChartCase("deep-flow-mapping", AT + r".*(nest|deep)", "x: " + "{a: " * 20_000 + "b" + "}" * 20_000 + "\n" + BASE),
    ChartCase("deep-block-sequence", AT + r".*(nest|deep)", "x:\n" + "".join("  " * i + "-\n" for i in range(3000)) + BASE),
    ChartCase("deep-unclosed-brackets", AT + r".*(nest|deep|not valid YAML)", "x: " + "[" * 100_000 + "\n"),
    ChartCase("huge-scalar", r"org\.yaml.*(too (large|big|long)|MB|bytes)", swap("name: Test Council", "name: " + "x" * 17_000_000)),
    ChartCase("huge-file-of-comments", r"org\.yaml.*(too (large|big|long)|MB|bytes)", BASE + ("# padding\n" * 1_700_000)),
    ChartCase("very-long-line-name", AT + r" organisations\[0\]\.name: .*at most 255", swap("name: Test Council", "name: " + "x" * 200_000)),
    ChartCase("many-unknown-fields", AT + r" organisations\[0\]\.f0: unknown field", swap("    name: Test Council", "    name: Test Council\n" + "".join(f"    f{i}: x\n" for i in range(5000)).rstrip("\n"))),
    ChartCase("long-unknown-ref", AT + r" people\[3\]\.manager: unknown", swap("units: [tsub], manager: tmgr}", "units: [tsub], manager: " + "m" * 100_000 + "}")),
    # --- Encodings and bytes ---
    ChartCase("latin-1", r"org\.yaml.*(UTF-8|utf-8|encoding)", swap("name: Test Council", "name: Conseil de Montr\u00e9al").encode("latin-1")),
    ChartCase("utf-16-with-bom", r"org\.yaml.*(UTF-8|utf-8|encoding)", BASE.encode("utf-16")),
    ChartCase("binary-png", r"org\.yaml.*(UTF-8|utf-8|encoding|not valid YAML|not an org chart)", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4),
    ChartCase("random-bytes", r"org\.yaml.*(UTF-8|utf-8|encoding|not valid YAML)", bytes((i * 7919 + 13) % 256 for i in range(4096))),
    ChartCase("nul-byte", AT + r".*not valid YAML", swap("name: Test Council", "name: Test\x00Council")),
    ChartCase("control-character", AT + r".*not valid YAML", swap("name: Test Council", "name: Test\x07Council")),
    ChartCase("escaped-lone-surrogate", AT + r".*not valid YAML|" + AT + r" organisations\[0\]\.name: ", swap("name: Test Council", 'name: "Test \\ud800 Council"')),
    ChartCase("right-to-left-override-key", AT + r" organisations\[0\]\.key: ", swap("key: tcouncil", "key: tcou\u202encil")),
    ChartCase("zero-width-in-reference", AT + r" people\[3\]\.manager: .*unknown", swap("units: [tsub], manager: tmgr}", "units: [tsub], manager: t\u200bmgr}")),
    ChartCase("utf8-bom-is-fine", OK, "\ufeff" + BASE),
    ChartCase("crlf-is-fine", OK, BASE.replace("\n", "\r\n")),
    ChartCase("emoji-name-is-fine", OK, swap("name: Test Council", "name: Test Council \U0001f3db")),
    ChartCase("cr-only-line-ends", EITHER + r"|" + AT, BASE.replace("\n", "\r")),
]
# fmt: on


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_bad_chart(case: ChartCase, tmp_path: Path) -> None:
    org_file = tmp_path / "org.yaml"
    if isinstance(case.content, bytes):
        org_file.write_bytes(case.content)
    else:
        org_file.write_text(case.content, encoding="utf-8", newline="")
    answer = run_borough("validate", str(org_file))
    answered(case, answer.text, answer.elapsed, answer.logs)
    if case.expect == OK:
        assert answer.exit_code == 0, answer.text[:2000]
    elif not case.expect.startswith(EITHER):
        assert answer.exit_code == 2, answer.text[:2000]
