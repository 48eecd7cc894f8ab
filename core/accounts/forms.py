"""Sign-in forms shared by the portal and the staff login."""

from django.contrib.auth.forms import AuthenticationForm
from django.core.validators import MaxLengthValidator

# Longer than any real password; stops a megabyte "password" from being hashed.
PASSWORD_MAX_LENGTH = 1024


class BoundedAuthenticationForm(AuthenticationForm):
    """AuthenticationForm that refuses an over-long username or password before authenticating.

    Django's form sets the username's max_length after the field is built, which sizes the HTML
    input but adds no validator, so an 800-character username reached authenticate() and the
    failed-login handlers (axes writes it to a 255-character column: DataError 1406 on MariaDB).
    Here the lengths are validated first; a refused value never reaches authenticate().
    """

    def __init__(self, request=None, *args, **kwargs):
        super().__init__(request, *args, **kwargs)
        username = self.fields["username"]
        username.validators.append(MaxLengthValidator(username.max_length))
        password = self.fields["password"]
        password.max_length = PASSWORD_MAX_LENGTH
        password.validators.append(MaxLengthValidator(PASSWORD_MAX_LENGTH))

    @property
    def malformed(self) -> bool:
        """A field itself was refused (too long, missing), as opposed to credentials that did not match."""
        return self.is_bound and any(name in self.errors for name in self.fields)
