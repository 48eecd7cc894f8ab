"""The admin's home page: KPIs and charts (filled by analytics queries)."""


def dashboard_callback(request, context):
    from core.analytics.queries import dashboard_kpis

    context.update(dashboard_kpis())
    return context
