"""The one door from billing to provisioning (suspend, unsuspend, terminate, create, change package).

Billing never calls a platform itself: it calls core.provisioning.services through `provisioning()`,
looked up at call time, so tests can stand a recorder in for it and the modules import in any order.
"""

from __future__ import annotations

import importlib


def provisioning():
    return importlib.import_module("core.provisioning.services")
