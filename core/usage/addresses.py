"""Which service held which address when: normalising, syncing from the platform, and lookup by IP."""

from __future__ import annotations

import datetime as dt
import ipaddress

from django.db import transaction
from django.db.models import Q

from core import clock
from core.audit.services import record

from .models import ServiceAddress


def normalise_network(value: str) -> str:
    """'203.0.113.7' stays a single address, '2001:db8::/48' a prefix; host bits are refused."""
    text = str(value).strip()
    if not text:
        raise ValueError("An address or prefix is required.")
    try:
        network = ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        raise ValueError(f"{text!r} is not an IP address or a CIDR prefix without host bits ({exc}).") from exc
    if network.num_addresses == 1:
        return str(network.network_address)
    return str(network)


def service_networks(service) -> list[str]:
    """The networks a service's platform reported (primary IP and the list), normalised."""
    found = []
    for value in [service.primary_ip, *(service.ip_addresses or [])]:
        if not value:
            continue
        if isinstance(value, dict):  # some drivers report {"address": ..., "prefix": ...}
            value = value.get("address") or value.get("ip") or ""
            if not value:
                continue
        try:
            network = normalise_network(value)
        except ValueError:
            continue
        if network not in found:
            found.append(network)
    return found


_CLOSED_STATUSES = {"terminated"}


def sync_service_addresses(service, *, at: dt.datetime | None = None) -> bool:
    """Make the service's open address rows match what its platform reported.

    Addresses no longer reported are closed at `at`; new ones are opened at `at`, and the same
    address still open on another service is closed there (it was reassigned). Terminated
    services keep no open address. Staff-entered rows are left alone. Returns True if anything
    changed.
    """
    at = at or clock.now()
    wanted = [] if service.status in _CLOSED_STATUSES else service_networks(service)
    with transaction.atomic():
        open_rows = list(
            ServiceAddress.objects.select_for_update().filter(
                service=service, valid_to__isnull=True, source=ServiceAddress.Source.PLATFORM
            )
        )
        have = {row.network for row in open_rows}
        if have == set(wanted):
            return False
        stale = [row.pk for row in open_rows if row.network not in wanted]
        if stale:
            ServiceAddress.objects.filter(pk__in=stale, valid_from__lt=at).update(valid_to=at)
            ServiceAddress.objects.filter(pk__in=stale, valid_from__gte=at).delete()
        for network in wanted:
            if network in have:
                continue
            moved = ServiceAddress.objects.filter(network=network, valid_to__isnull=True).exclude(service=service)
            for previous in moved.select_related("service"):
                record(
                    "usage.address_reassigned", service, source="task",
                    message=f"{network} moved from service {previous.service_id} to {service.pk}",
                    data={"network": network, "from_service": previous.service_id, "at": at.isoformat()},
                )  # fmt: skip
            moved.filter(valid_from__lt=at).update(valid_to=at)
            moved.filter(valid_from__gte=at).delete()
            ServiceAddress.objects.create(service=service, network=network, valid_from=at)
        return True


def add_service_address(service, network: str, *, valid_from: dt.datetime, valid_to=None, actor=None) -> ServiceAddress:
    """Staff: record an address held by a service over an interval (audited)."""
    row = ServiceAddress(
        service=service, network=normalise_network(network), valid_from=valid_from, valid_to=valid_to,
        source=ServiceAddress.Source.STAFF,
    )  # fmt: skip
    row.full_clean()
    row.save()
    record("usage.address_added", service, actor=actor, data={"network": row.network, "from": str(valid_from)})
    return row


def addresses_for_window(start: dt.datetime, end: dt.datetime) -> dict[str, int]:
    """{network: service_id} for the hour [start, end): the holder at `start`, else the one that
    took the address during the hour."""
    rows = (
        ServiceAddress.objects.filter(valid_from__lt=end)
        .filter(Q(valid_to__isnull=True) | Q(valid_to__gt=start))
        .values_list("network", "service_id", "valid_from")
        .order_by("network", "valid_from")
    )
    holders: dict[str, tuple[int, dt.datetime]] = {}
    for network, service_id, valid_from in rows:
        # Rows come oldest first: the latest one that began by the window start holds the hour;
        # one that began inside the hour holds it only if nobody held the address at its start.
        if network not in holders or valid_from <= start:
            holders[network] = (service_id, valid_from)
    return {network: held[0] for network, held in holders.items()}


class AddressResolver:
    """Maps an IP seen in a flow to the service holding it: exact addresses first, then the longest
    matching prefix (one dict probe per distinct prefix length, not a scan of every prefix)."""

    def __init__(self, networks: dict[str, int]):
        self.exact: dict[str, int] = {}
        self.by_length: dict[tuple[int, int], dict[int, int]] = {}
        for network, service_id in networks.items():
            if "/" not in network:
                self.exact[str(ipaddress.ip_address(network))] = service_id
                continue
            net = ipaddress.ip_network(network)
            self.by_length.setdefault((net.version, net.prefixlen), {})[int(net.network_address)] = service_id
        self.lengths = sorted(self.by_length, key=lambda k: -k[1])

    def service_for(self, ip: str) -> int | None:
        found = self.exact.get(ip)
        if found is not None:
            return found
        if not self.lengths:
            return None
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return None
        found = self.exact.get(str(addr))
        if found is not None:
            return found
        bits = 32 if addr.version == 4 else 128
        value = int(addr)
        for version, length in self.lengths:
            if version != addr.version:
                continue
            key = value >> (bits - length) << (bits - length)
            found = self.by_length[(version, length)].get(key)
            if found is not None:
                return found
        return None


def sync_addresses_in_bulk(services, *, at: dt.datetime | None = None) -> int:
    """sync_service_addresses for many services in a few queries (imports write services in bulk,
    which skips the signal that syncs one service at a time). Same rules: a service's open platform
    rows match its reported addresses, terminated services keep none, an address still open on
    another service is closed there (reassigned, audited), staff rows are left alone. Within the
    batch, an address reported by two services goes to the later one. `services` are objects with
    pk, status, primary_ip and ip_addresses. Returns how many services changed.
    """
    at = at or clock.now()
    services = [s for s in services if s.pk]
    if not services:
        return 0
    wanted: dict[int, list[str]] = {}
    holder: dict[str, int] = {}
    for service in services:
        wanted[service.pk] = [] if service.status in _CLOSED_STATUSES else service_networks(service)
        for network in wanted[service.pk]:
            holder[network] = service.pk
    with transaction.atomic():
        open_rows: dict[int, dict[str, int]] = {pk: {} for pk in wanted}
        for pk, service_id, network in (
            ServiceAddress.objects.select_for_update()
            .filter(service_id__in=list(wanted), valid_to__isnull=True, source=ServiceAddress.Source.PLATFORM)
            .values_list("pk", "service_id", "network")
        ):
            open_rows[service_id][network] = pk
        stale, new, changed = [], [], 0
        for service_id, networks in wanted.items():
            keep = {n for n in networks if holder.get(n) == service_id}
            have = open_rows[service_id]
            if set(have) == keep:
                continue
            changed += 1
            stale += [pk for network, pk in have.items() if network not in keep]
            new += [(service_id, network) for network in networks if network in keep and network not in have]
        if stale:
            ServiceAddress.objects.filter(pk__in=stale, valid_from__lt=at).update(valid_to=at)
            ServiceAddress.objects.filter(pk__in=stale, valid_from__gte=at).delete()
        if new:
            target = {network: service_id for service_id, network in new}
            moved = list(
                ServiceAddress.objects.select_for_update().filter(network__in=list(target), valid_to__isnull=True)
                .values_list("pk", "network", "service_id", "valid_from")
            )  # fmt: skip
            moved = [row for row in moved if row[2] != target[row[1]]]
            for _pk, network, previous, _from in moved:
                record(
                    "usage.address_reassigned", None, source="task",
                    message=f"{network} moved from service {previous} to {target[network]}",
                    data={"network": network, "from_service": previous, "to_service": target[network],
                          "at": at.isoformat()},
                )  # fmt: skip
            ServiceAddress.objects.filter(pk__in=[r[0] for r in moved if r[3] < at]).update(valid_to=at)
            ServiceAddress.objects.filter(pk__in=[r[0] for r in moved if r[3] >= at]).delete()
            ServiceAddress.objects.bulk_create(
                [ServiceAddress(service_id=service_id, network=network, valid_from=at) for service_id, network in new]
            )
    return changed
