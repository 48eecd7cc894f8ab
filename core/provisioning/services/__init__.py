"""Every state change of provisioning, by business process:

- capacity.py      can a product be sold now (check_capacity)
- create.py        create a paid order's service, staff provision/retry, assign hardware
- build.py         the create job, build polling, activation
- actions.py       suspend, unsuspend, terminate, change package
- credentials.py   passwords, the reset before the welcome email, the welcome email
- retries.py       backoff or giving up after a failed platform call
- lifecycle.py     run_job (the queued entry point) and provision_service
- access.py        power, usage, panel link, new credentials (synchronous platform calls)
- reinstall.py     reinstall a service with a template from its product's list (queued)
- compensation.py  refund or credit a service that failed for good
- checks.py        platform connection checks (manage.py platform_check)
- jobs.py          the ProvisioningJob log and queue; states.py the transition table
"""

from .access import power_service, reset_service_credentials, service_panel_url, service_usage
from .actions import change_service_package, suspend_service, terminate_service, unsuspend_service
from .capacity import check_capacity, connection_for
from .checks import check_platform_connection
from .compensation import refund_or_credit_failed_service
from .create import assign_hardware, create_service, queue_provisioning, retry_provisioning
from .credentials import generate_password
from .lifecycle import provision_service, run_job
from .reinstall import reinstall_blocker, reinstall_service, reinstall_templates
from .states import TRANSITIONS, can_move

__all__ = [
    "TRANSITIONS",
    "assign_hardware",
    "can_move",
    "change_service_package",
    "check_capacity",
    "check_platform_connection",
    "connection_for",
    "create_service",
    "generate_password",
    "power_service",
    "provision_service",
    "queue_provisioning",
    "refund_or_credit_failed_service",
    "reinstall_blocker",
    "reinstall_service",
    "reinstall_templates",
    "reset_service_credentials",
    "retry_provisioning",
    "run_job",
    "service_panel_url",
    "service_usage",
    "suspend_service",
    "terminate_service",
    "unsuspend_service",
]
