"""Give a person a role in a label: `manage.py user_invite --label north --email rita@example.org --role
rights_manager`. A new user gets a one-time link to set a password (printed: send it to them)."""

from django.core.management.base import BaseCommand, CommandError

from catalog.management.commands.label_create import invitation_line
from catalog.models import Label, Role
from catalog.services import member_invite
from config.errors import StemmaError


class Command(BaseCommand):
    help = "Invite a user to a label with a role (admin, rights_manager, viewer); prints the invitation link."

    def add_arguments(self, parser):
        parser.add_argument("--label", required=True)
        parser.add_argument("--email", required=True)
        parser.add_argument("--role", default=Role.VIEWER, choices=Role.values)
        parser.add_argument("--username", default="", help="defaults to the e-mail address")
        parser.add_argument("--base-url", default="http://127.0.0.1:8000", help="where the site is served")

    def handle(self, *args, label, email, role, username, base_url, **options):
        found = Label.objects.filter(slug=label).first()
        if found is None:
            raise CommandError(f"no label with slug {label!r}")
        try:
            invitation = member_invite(label=found, email=email, role=role, username=username)
        except StemmaError as exc:
            raise CommandError(exc.message)
        self.stdout.write(invitation_line(invitation, base_url))
