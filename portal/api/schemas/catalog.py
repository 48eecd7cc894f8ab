from ninja import Field, Schema


class CatalogPriceOut(Schema):
    """What a product costs per billing cycle in the caller's currency."""

    id: int = Field(description="Use as price_id when ordering or changing plan.")
    cycle: str = Field(description="monthly, quarterly, semi_annual, annual, biennial or triennial")
    currency: str
    amount: str
    setup_fee: str
    trial_days: int


class ProductOut(Schema):
    """A plan for sale, with its prices in the caller's currency and the choices it allows at order."""

    slug: str
    name: str
    description: str
    service_type: str = Field(description="vps, dedicated, hosting or game_server")
    cpu_cores: int | None
    ram_mb: int | None
    disk_gb: int | None
    bandwidth_quota_gb: int | None = Field(description="Empty: unmetered")
    features: dict
    in_stock: bool
    order_options: dict = Field(
        description="What can be chosen at order: hostname rule, locations, os_templates, eggs (each with its variables), variables."
    )
    prices: list[CatalogPriceOut]
