"""Extension points for pages the catalog owns but higher apps add to.

The recording page shows the clips that drew on a recording and its earnings, which live in
fingerprinting and royalties; catalog must not import them. Those apps register panels here from their
AppConfig.ready(), and the catalog view renders whatever is registered. The same goes for navigation.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.http import HttpRequest

from catalog.models import Recording


@dataclass(frozen=True)
class Panel:
    title: str
    order: int
    template: str
    context: Callable[[HttpRequest, Recording], dict]


@dataclass(frozen=True)
class NavLink:
    title: str
    url_name: str
    order: int


recording_panels: list[Panel] = []
nav_links: list[NavLink] = [
    NavLink("Catalog", "catalog:recording-list", 20),
    NavLink("Import", "catalog:import-start", 25),
    NavLink("Audit log", "catalog:audit-log", 90),
    NavLink("Members", "catalog:member-list", 95),
]


def register_recording_panel(panel: Panel) -> None:
    if all(p.title != panel.title for p in recording_panels):
        recording_panels.append(panel)
        recording_panels.sort(key=lambda p: p.order)


def register_nav_link(link: NavLink) -> None:
    if all(n.url_name != link.url_name for n in nav_links):
        nav_links.append(link)
        nav_links.sort(key=lambda n: n.order)
