import datetime as dt

from ninja import Field, Schema


class DepartmentOut(Schema):
    id: str
    name: str


class TicketOut(Schema):
    """A support ticket (SupportPal). `last_reply_by_staff` is true when our team answered last."""

    id: str = Field(description="The help desk's ticket id (use it in the other ticket URLs).")
    number: str
    subject: str
    status: str
    department: str
    priority: str
    is_closed: bool
    created_at: dt.datetime | None
    updated_at: dt.datetime | None
    last_reply_at: dt.datetime | None
    last_reply_by_staff: bool
    service_id: str | None = Field(None, description="UUID of the service the ticket is about, if any.")


class MessageOut(Schema):
    id: str
    text: str = Field(description="HTML as written in the help desk.")
    by_staff: bool
    author: str
    created_at: dt.datetime | None


class TicketDetailOut(TicketOut):
    messages: list[MessageOut] = Field(description="Public replies, oldest first (no internal notes, no drafts).")


class TicketCreateIn(Schema):
    department_id: str = Field(description="One of GET /tickets/departments.")
    subject: str = Field(min_length=1, max_length=200)
    text: str = Field(min_length=1, max_length=20000)
    service_id: str | None = Field(None, description="UUID of one of your services the ticket is about.")


class ReplyIn(Schema):
    text: str = Field(min_length=1, max_length=20000)
