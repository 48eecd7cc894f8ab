from ninja import Field, Schema

COUNTRY = r"^[A-Za-z]{2}$"


class AccountOut(Schema):
    """The caller's customer record: who they are and where they are billed."""

    email: str
    first_name: str
    last_name: str
    company: str
    phone: str
    address_line1: str
    address_line2: str
    city: str
    region: str
    postal_code: str
    country: str
    shipping_same_as_billing: bool
    shipping_line1: str
    shipping_line2: str
    shipping_city: str
    shipping_region: str
    shipping_postal_code: str
    shipping_country: str
    vat_id: str
    currency: str = Field(description="Billing currency (ISO 4217); fixed once an invoice or subscription exists.")
    auto_apply_credit: bool
    status: str


class AccountUpdateIn(Schema):
    """Profile fields to change; fields left out stay as they are."""

    company: str | None = Field(None, max_length=200)
    phone: str | None = Field(None, max_length=40)
    address_line1: str | None = Field(None, max_length=200)
    address_line2: str | None = Field(None, max_length=200)
    city: str | None = Field(None, max_length=100)
    region: str | None = Field(None, max_length=100)
    postal_code: str | None = Field(None, max_length=20)
    country: str | None = Field(None, pattern=COUNTRY, description="ISO 3166-1 alpha-2, e.g. US, DE, GB")
    shipping_same_as_billing: bool | None = None
    shipping_line1: str | None = Field(None, max_length=200)
    shipping_line2: str | None = Field(None, max_length=200)
    shipping_city: str | None = Field(None, max_length=100)
    shipping_region: str | None = Field(None, max_length=100)
    shipping_postal_code: str | None = Field(None, max_length=20)
    shipping_country: str | None = Field(None, pattern=COUNTRY)
    vat_id: str | None = Field(None, max_length=32)
    auto_apply_credit: bool | None = None
    currency: str | None = Field(None, pattern=r"^[A-Za-z]{3}$", description="Only while nothing was billed yet.")
