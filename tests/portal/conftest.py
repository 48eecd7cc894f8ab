from tests.billing.conftest import provisioning  # noqa: F401  (the recording stand-in for provisioning)
