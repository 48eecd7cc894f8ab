"""Print the current TOTP code of the demo staff user (local demo only)."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Print the current two-factor code of a staff user's 'default' TOTP device (not in production)."

    def add_arguments(self, parser):
        parser.add_argument("--email", default="admin@ezscale.localhost")

    def handle(self, *args, email: str, **options):
        if settings.IS_PRODUCTION:
            raise CommandError("demo_totp is for the local demo; it refuses to run with DJANGO_ENV=production.")
        from django_otp.oath import totp
        from django_otp.plugins.otp_totp.models import TOTPDevice

        device = TOTPDevice.objects.filter(user__email__iexact=email, name="default", confirmed=True).first()
        if device is None:
            raise CommandError(f"{email} has no confirmed TOTP device named 'default'. Run `manage.py seed_demo`.")
        self.stdout.write(f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}")
