def can_impersonate(*, hijacker, hijacked) -> bool:
    """Staff with the permission may impersonate customers, never other staff (audited by signal)."""
    if not hijacker.is_active or not hijacked.is_active:
        return False
    if hijacked.is_staff or hijacked.is_superuser:
        return False
    return hijacker.is_superuser or (hijacker.is_staff and hijacker.has_perm("accounts.impersonate_customer"))
