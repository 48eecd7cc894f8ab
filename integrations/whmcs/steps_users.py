"""WHMCS 8 login users of a client other than the one that became the customer's login.

WHMCS 8 lets several users (tblusers) sign in to one client, each with permissions
(tblusers_clients). Our customers have one login each (Customer.user, one to one), so the rule is:

- the client's login is the user steps_accounts chose (the owner; without one, the first user linked);
- every other user linked to the client becomes a Contact of the customer (name, email; they
  receive invoice emails when WHMCS let them see invoices), matched by (customer, email) so a
  contact staff already made is reused, and the WHMCS user with its password hash (in the form
  core.accounts.hashers checks), permissions and verification is kept in ImportedClientUser;
- a user with a bad email, or the customer's own login email, is skipped and reported;
- a note in the report says how many users came over as contacts rather than logins.

Batched: per batch of tblusers_clients rows, one read of the users, one of each client's login row,
one lookup of customers, contacts and imported users; bulk writes, compared before writing.
"""

from __future__ import annotations

from django.db import transaction

from core.accounts.hashers import whmcs_encoded_password
from core.accounts.models import Contact, Customer
from core.imports.models import ImportedClientUser
from core.imports.services import sync_rows

from .cleaning import clean_email, fix_text
from .run import Run
from .steps_accounts import _count

TABLE = "tblusers_clients"


def import_users(run: Run) -> None:
    report = run.report
    as_contacts = 0
    for rows in run.batches(TABLE, "id, auth_user_id, client_id, owner, permissions", since_column="updated_at"):
        client_ids = sorted({r["client_id"] for r in rows})
        marks = ",".join(["%s"] * len(client_ids))
        logins: dict[int, int] = {}
        for link in run.source.query(
            f"SELECT id, client_id FROM tblusers_clients WHERE client_id IN ({marks}) ORDER BY owner DESC, id",  # noqa: S608
            client_ids,
        ):
            logins.setdefault(link["client_id"], link["id"])
        others = [r for r in rows if logins.get(r["client_id"]) != r["id"]]
        if not others:
            report.table(TABLE).unchanged += len(rows)
            continue
        report.table(TABLE).unchanged += len(rows) - len(others)  # the logins, imported with their clients
        user_ids = sorted({r["auth_user_id"] for r in others})
        users = {
            u["id"]: u
            for u in run.source.query(
                "SELECT id, email, first_name, last_name, password, CAST(email_verified_at AS CHAR) AS verified "  # noqa: S608
                f"FROM tblusers WHERE id IN ({','.join(['%s'] * len(user_ids))})",
                user_ids,
            )
        }
        customers = {
            c["whmcs_id"]: c
            for c in Customer.objects.filter(whmcs_id__in=client_ids).values("whmcs_id", "pk", "user__email")
        }
        wanted: dict[int, dict] = {}
        for r in others:
            customer, user = customers.get(r["client_id"]), users.get(r["auth_user_id"])
            if customer is None or user is None:
                report.skip(TABLE, r["id"], f"client {r['client_id']} or user {r['auth_user_id']} does not exist")
                continue
            email = clean_email(user["email"])
            if email is None:
                report.skip(TABLE, r["id"], f"user {user['id']} has a bad email {user['email']!r}")
                continue
            if email == (customer["user__email"] or "").lower():
                report.skip(TABLE, r["id"], f"user {user['id']} has the client's own login email")
                continue
            first, last = fix_text(user["first_name"], 150)[0], fix_text(user["last_name"], 150)[0]
            permissions = [p.strip() for p in (r["permissions"] or "").split(",") if p.strip()]
            wanted[r["id"]] = {
                "customer_id": customer["pk"],
                "whmcs_user_id": user["id"],
                "email": email,
                "first_name": first,
                "last_name": last,
                "password": whmcs_encoded_password(user["password"] or ""),
                "permissions": permissions,
                "email_verified": bool(user["verified"] and not user["verified"].startswith("0000")),
            }
        with transaction.atomic():
            contacts = _contacts(wanted)
            for values in wanted.values():
                values["contact_id"] = contacts[(values["customer_id"], values["email"])]
            _count(report.table(TABLE), sync_rows(ImportedClientUser, wanted))
        as_contacts += len(wanted)
    if as_contacts:
        report.notes.append(
            f"{as_contacts} WHMCS user(s) who are not their client's owner came over as contacts of the customer "
            "(our customers have one login each); their WHMCS password hashes and permissions are kept in "
            "ImportedClientUser"
        )


def _contacts(wanted: dict[int, dict]) -> dict[tuple[int, str], int]:
    """The Contact of each (customer, email): found, created or brought up to date (compared first)."""
    desired: dict[tuple[int, str], dict] = {}
    for values in wanted.values():
        name = f"{values['first_name']} {values['last_name']}".strip()[:150] or values["email"]
        desired[(values["customer_id"], values["email"])] = {
            "name": name,
            "receives_invoices": "invoices" in values["permissions"],
        }
    if not desired:
        return {}
    existing = {
        (c["customer_id"], c["email"].lower()): c
        for c in Contact.objects.filter(
            customer_id__in={k[0] for k in desired}, email__in={k[1] for k in desired}
        ).values("pk", "customer_id", "email", "name", "receives_invoices")
    }
    new, changed = [], []
    for key, values in desired.items():
        found = existing.get(key)
        if found is None:
            new.append(Contact(customer_id=key[0], email=key[1], **values))
        elif any(found[f] != v for f, v in values.items()):
            changed.append(Contact(pk=found["pk"], customer_id=key[0], email=found["email"], **values))
    if new:
        Contact.objects.bulk_create(new, batch_size=1000)
    if changed:
        Contact.objects.bulk_update(changed, ["name", "receives_invoices"], batch_size=500)
    if new:
        existing.update(
            {
                (c["customer_id"], c["email"].lower()): c
                for c in Contact.objects.filter(
                    customer_id__in={c.customer_id for c in new}, email__in={c.email for c in new}
                ).values("pk", "customer_id", "email")
            }
        )
    return {key: existing[key]["pk"] for key in desired}
