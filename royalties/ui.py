"""What royalties adds to the web UI's navigation (see catalog.ui); the earnings panel is registered in apps.py."""

from catalog.ui import NavLink, register_nav_link


def register() -> None:
    register_nav_link(NavLink("Dashboard", "royalties:dashboard", 10))
    register_nav_link(NavLink("Royalties", "royalties:period-list", 50))
    register_nav_link(NavLink("Training", "royalties:training-preview", 55))
