"""django-q2 entry points (thin: the work is in services)."""

from core.provisioning.services import jobs, lifecycle


def run_provisioning_job(job_id: int) -> str:
    return lifecycle.run_job(job_id)


def dispatch_overdue_provisioning_jobs() -> int:
    return jobs.dispatch_overdue_jobs()
