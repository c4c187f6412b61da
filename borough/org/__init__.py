"""The org chart: what the council and its partners look like, as validated data."""

from borough.org.index import OrgIndex
from borough.org.loader import OrgChartError, load_org_chart, parse_org_chart
from borough.org.model import (
    Channel,
    Organisation,
    OrgChart,
    Partnership,
    Person,
    RoomTemplate,
    Unit,
)

__all__ = [
    "Channel",
    "OrgChart",
    "OrgChartError",
    "OrgIndex",
    "Organisation",
    "Partnership",
    "Person",
    "RoomTemplate",
    "Unit",
    "load_org_chart",
    "parse_org_chart",
]
