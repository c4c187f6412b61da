"""The image files an org chart names (avatars of people and spaces), beside the org file.

Only the provisioning commands read them: Synapse's modules load the same chart on a host
that need not hold the images.
"""

from __future__ import annotations

from pathlib import Path

from borough.org.checks import Finding
from borough.org.model import Organisation, OrgChart, Partnership, Person, Unit


def image_path(org_dir: Path, name: str) -> Path:
    """Where the image `name` of a chart in `org_dir` is."""
    return (org_dir / name).resolve()


def unreadable_images(chart: OrgChart, org_dir: Path) -> list[Finding]:
    """Each avatar that cannot be read, at its place in the chart."""
    sections: dict[str, tuple[Organisation | Unit | Person | Partnership, ...]] = {
        "organisations": chart.organisations,
        "units": chart.units,
        "people": chart.people,
        "partnerships": chart.partnerships,
    }
    findings: list[Finding] = []
    for section, items in sections.items():
        for i, item in enumerate(items):
            if item.avatar is None:
                continue
            path = image_path(org_dir, item.avatar)
            try:
                with path.open("rb"):
                    pass
            except OSError as exc:
                findings.append(((section, i, "avatar"), f"cannot read {path} ({exc.strerror})"))
    return findings
