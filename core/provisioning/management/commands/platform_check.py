"""Check every configured platform connection with its cheapest authenticated read.

    manage.py platform_check [--connection NAME] [--include-inactive]

Prints reachability, authentication and API version per connection, stores the result on
PlatformConnection.last_check_*, and exits 1 when any connection failed.
"""

from django.core.management.base import BaseCommand, CommandError

from core.provisioning.models import PlatformConnection
from core.provisioning.services import check_platform_connection


class Command(BaseCommand):
    help = "Check platform connections (reachability, authentication, API version)."

    def add_arguments(self, parser):
        parser.add_argument("--connection", help="Only the connection with this name")
        parser.add_argument("--include-inactive", action="store_true", help="Also check inactive connections")

    def handle(self, *args, connection=None, include_inactive=False, **options):
        connections = PlatformConnection.objects.order_by("platform", "name")
        if connection:
            connections = connections.filter(name=connection)
            if not connections.exists():
                raise CommandError(f"No platform connection named {connection!r}.")
        elif not include_inactive:
            connections = connections.filter(is_active=True)
        failed = 0
        for conn in connections:
            result = check_platform_connection(conn)
            line = (
                f"{conn.name:<24} {conn.platform:<12} "
                f"reachable={'yes' if result.reachable else 'no'} "
                f"auth={'yes' if result.authenticated else 'no'} "
                f"version={result.api_version or '-'}" + (f"  {result.message}" if result.message else "")
            )
            if result.ok:
                self.stdout.write(self.style.SUCCESS(f"OK   {line}"))
            else:
                failed += 1
                self.stdout.write(self.style.ERROR(f"FAIL {line}"))
        if not connections:
            self.stdout.write("No platform connections to check.")
        if failed:
            raise CommandError(f"{failed} platform connection(s) failed the check.", returncode=1)
