"""The Unfold back office: one module per domain (Django autodiscovers `backoffice.admin`)."""

from . import accounts, audit, billing, catalog, notifications, provisioning, support, usage  # noqa: F401

# isort: split
from . import analytics  # noqa: F401  (MRR movement lists, export jobs, dunning what-if)

# isort: split
from . import imports  # noqa: F401  (WHMCS import runs: start, progress, report)
