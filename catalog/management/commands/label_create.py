"""Create a label (tenant), optionally with its first admin: `manage.py label_create --name "North Records"
--slug north [--currency EUR] [--admin-email ada@example.org]`. Prints the admin's invitation link."""

from django.core.management.base import BaseCommand, CommandError

from catalog.models import Role
from catalog.services import label_create, member_invite
from config.errors import StemmaError


class Command(BaseCommand):
    help = (
        "Create a label and, with --admin-email, invite its first admin (prints the link to set a password)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True)
        parser.add_argument("--slug", required=True)
        parser.add_argument("--currency", default="EUR")
        parser.add_argument("--admin-email", default="")
        parser.add_argument("--base-url", default="http://127.0.0.1:8000", help="where the site is served")

    def handle(self, *args, name, slug, currency, admin_email, base_url, **options):
        try:
            label = label_create(name=name, slug=slug, default_currency=currency)
            self.stdout.write(f"label {label.slug} created ({label.name}, {label.default_currency})")
            if admin_email:
                invitation = member_invite(label=label, email=admin_email, role=Role.ADMIN)
                self.stdout.write(invitation_line(invitation, base_url))
        except StemmaError as exc:
            raise CommandError(exc.message)


def invitation_line(invitation, base_url: str) -> str:
    from django.urls import reverse

    user = invitation.membership.user
    if not invitation.created_user and user.has_usable_password():
        return f"{user.username} ({invitation.membership.role}) can sign in with their password"
    path = reverse("catalog:invite-accept", args=[invitation.uidb64, invitation.token])
    return f"{user.username} ({invitation.membership.role}): set a password at {base_url.rstrip('/')}{path}"
