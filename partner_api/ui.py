"""What the partner app adds to the web UI's navigation (see catalog.ui)."""

from catalog.ui import NavLink, register_nav_link


def register() -> None:
    register_nav_link(NavLink("Partners", "partners:partner-list", 70))
    register_nav_link(NavLink("Webhooks", "webhooks:label-webhooks", 75))
