"""Attribution: who referred a customer. First touch wins; self-referral is refused.

Everything here decides without writing, except :func:`save_referral`. Whatever may make a
referral first locks the customer's row (:func:`open_`), so for one customer these
decisions happen one at a time and the counters of the rules stay exact.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from msgspec import UNSET
from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from goodwill.customers import service as customers
from goodwill.customers.models import Customer
from goodwill.customers.schemas import CustomerUpsert
from goodwill.db.raw import Raw, Row, Sql, insert_into, raw, view
from goodwill.db.repository import Repository, among
from goodwill.errors import Conflict, NotFound
from goodwill.events.service import emit, write_with_outbox
from goodwill.http.encoding import to_builtins
from goodwill.ids import new_id
from goodwill.links.models import ReferralLink
from goodwill.referrals.models import Referral
from goodwill.referrals.schemas import Attribution, CustomerRef, ReferralOut
from goodwill.rewards import grant
from goodwill.rewards.service import attributes
from goodwill.rules.engine import Block, Occurrence
from goodwill.workspaces import config as workspace_config
from goodwill.workspaces.config import ProgramInfo

REFERRALS: Table = Referral.__table__  # type: ignore[assignment]


class ReferralRepository(Repository[Referral]):
    model = Referral
    noun = "referral"


@dataclass(frozen=True)
class LinkRef:
    """What attribution needs of a referral link."""

    id: uuid.UUID
    program_id: uuid.UUID
    promoter_id: uuid.UUID

    @classmethod
    def of(cls, link: ReferralLink) -> LinkRef:
        return cls(link.id, link.program_id, link.promoter_id)


@dataclass(frozen=True)
class ClickRef:
    """What attribution needs of a click."""

    id: uuid.UUID
    link_id: uuid.UUID
    created_at: datetime
    utm_params: dict[str, Any]


@dataclass(frozen=True)
class PromoterRef:
    """What attribution and the rules need of a promoter."""

    id: uuid.UUID
    email: str | None
    customer_id: uuid.UUID | None
    metadata_: dict[str, Any]


@dataclass(frozen=True)
class Touch:
    """An attribution as given: the link, how it was named, and the click if any."""

    link: LinkRef
    via: str  # code | link_id | click_id | referrer_id
    click: ClickRef | None = None
    promoter: PromoterRef | None = None  # the link's, when it was read with the link


NOTHING_TO_ATTRIBUTE = "no attribution was given and the customer has no referral"


@dataclass
class Attributed:
    """Whom an occurrence is attributed to, and whether that makes a new referral.

    ``status``: ``referred`` (a new referral), ``existing`` (the customer's referral stands),
    ``refused`` (``block`` says why) or ``none`` (nothing to attribute to).
    """

    status: str
    message: str
    program: ProgramInfo | None = None
    promoter: PromoterRef | None = None
    link_id: uuid.UUID | None = None
    click_id: uuid.UUID | None = None
    referral: Referral | None = None
    via: str | None = None
    block: Block | None = None

    @property
    def is_new(self) -> bool:
        return self.status == "referred"

    def explain(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "via": self.via,
            "program_id": None if self.program is None else str(self.program.id),
            "promoter_id": None if self.promoter is None else str(self.promoter.id),
            "referral_id": None if self.referral is None else str(self.referral.id),
            "code": None if self.block is None else self.block.code,
            "message": self.message,
        }


# A touch's link with its promoter (attribution needs both), by the attribution's ``code``,
# ``link_id`` or ``click_id``: one statement (or a part of :func:`open_`'s).
_TOUCH_COLUMNS = "l.id, l.program_id, l.promoter_id, p.email, p.customer_id, p.metadata"
_CLICK_COLUMNS = (
    "c.id, c.link_id, c.created_at, c.utm_params, l.program_id, l.promoter_id, "
    "p.email, p.customer_id, p.metadata"
)
_LINK_AND_PROMOTER = (
    f"SELECT {_TOUCH_COLUMNS} FROM referral_links l "  # noqa: S608 - fixed names, no input
    "JOIN promoters p ON p.id = l.promoter_id WHERE l.workspace_id = :workspace_id "
)
_SELECT_TOUCH = {
    "code": _LINK_AND_PROMOTER + "AND l.code = :code",
    "link_id": _LINK_AND_PROMOTER + "AND l.id = :link_id",
    "click_id": f"SELECT {_CLICK_COLUMNS} "  # noqa: S608 - fixed names, no input
    "FROM clicks c JOIN referral_links l ON l.id = c.link_id "
    "JOIN promoters p ON p.id = l.promoter_id "
    "WHERE c.workspace_id = :workspace_id AND c.id = :click_id",
}
_TOUCH = {kind: Sql(text) for kind, text in _SELECT_TOUCH.items()}
_TOUCH_WIDTH = {
    kind: (_CLICK_COLUMNS if kind == "click_id" else _TOUCH_COLUMNS).count(",") + 1
    for kind in _SELECT_TOUCH
}
_REFERRAL = Sql(
    "SELECT id, program_id, promoter_id, link_id, click_id, source, referred_at, created_at "
    "FROM referrals WHERE workspace_id = :workspace_id AND customer_id = :customer_id"
)
_REFERRAL_AND_PROMOTER = Sql(
    "SELECT r.id, r.program_id, r.promoter_id, r.link_id, r.click_id, r.source, r.referred_at, "
    "r.created_at, p.email, p.customer_id, p.metadata FROM referrals r "
    "JOIN promoters p ON p.id = r.promoter_id "
    "WHERE r.workspace_id = :workspace_id AND r.customer_id = :customer_id"
)
# A known customer's purchase count and referral (with its promoter), in one statement: the
# count is a subquery beside a row that exists whether or not the customer has a referral.
# Then its cards in the given programs, a row each: no count, the card's id, program, code
# and creation in the columns of the referral's id, program, source and creation.
_HISTORY = (
    "SELECT (SELECT count(*) FROM purchases WHERE customer_id = :customer_id), "
    "r.id, r.program_id, r.promoter_id, r.link_id, r.click_id, r.source, r.referred_at, "
    "r.created_at, p.email, p.customer_id, p.metadata FROM (SELECT 1) AS customer "
    "LEFT JOIN referrals r ON r.workspace_id = :workspace_id AND r.customer_id = :customer_id "
    "LEFT JOIN promoters p ON p.id = r.promoter_id"  # a referral's promoter always exists
)
_HISTORY_CARDS = (
    " UNION ALL SELECT NULL, c.id, c.program_id, NULL, NULL, NULL, c.code, NULL, c.created_at, "
    "NULL, NULL, NULL FROM loyalty_cards c WHERE c.program_id IN ({programs}) "
    "AND c.customer_id = :customer_id"
)
_HISTORIES: dict[int, Sql] = {}


def _history_sql(programs: int) -> Sql:
    """The history statement reading the customer's cards in ``programs`` programs."""
    found = _HISTORIES.get(programs)
    if found is None:
        text = _HISTORY
        if programs:
            places = ", ".join(f":program{i}" for i in range(programs))
            text += _HISTORY_CARDS.format(programs=places)
        found = _HISTORIES[programs] = Sql(text)
    return found


_PROMOTER = Sql(
    "SELECT id, email, customer_id, metadata FROM promoters "
    "WHERE workspace_id = :workspace_id AND id = :id"
)
_INSERT_REFERRAL = insert_into(REFERRALS, on_conflict=("workspace_id", "customer_id"))
_WRITE_REFERRAL = insert_into(REFERRALS)


def _link(db: Raw, row: tuple[Any, ...]) -> LinkRef:
    return LinkRef(db.uuid_of(row[0]), db.uuid_of(row[1]), db.uuid_of(row[2]))


def _upsert_of(ref: CustomerRef) -> CustomerUpsert:
    assert ref.source_id is not None
    return CustomerUpsert(
        source_id=ref.source_id,
        email=UNSET if ref.email is None else ref.email,
        name=UNSET if ref.name is None else ref.name,
        metadata=UNSET if ref.metadata is None else ref.metadata,
    )


def _touch(db: Raw, kind: str, value: Any, row: Row | None, *, param: str | None = None) -> Touch:
    """The touch read as ``row`` by ``kind`` (``code``, ``link_id`` or ``click_id``) equal to
    ``value``; none read is a 404 naming ``param`` (by default ``kind``)."""
    if row is None:
        name = {"code": "referral link with code", "link_id": "referral link", "click_id": "click"}
        shown = repr(value) if kind == "code" else str(value)
        raise NotFound(f"No {name[kind]} {shown}", param=param or kind)
    if kind != "click_id":
        return Touch(_link(db, row), kind, promoter=_promoter(db, row[2], row[3:]))
    link_id = db.uuid_of(row[1])
    click = ClickRef(db.uuid_of(row[0]), link_id, db.time_of(row[2]), db.json_of(row[3]) or {})
    link = LinkRef(link_id, db.uuid_of(row[4]), db.uuid_of(row[5]))
    return Touch(link, "click_id", click, _promoter(db, row[5], row[6:]))


async def touch_by_code(
    session: AsyncSession, workspace_id: uuid.UUID, code: str, *, param: str = "code"
) -> Touch:
    """The link with ``code``, read with its promoter; an unknown code is a 404."""
    db = await raw(session)
    row = await db.one(_TOUCH["code"], workspace_id=workspace_id, code=code)
    return _touch(db, "code", code, row, param=param)


@dataclass(frozen=True, slots=True)
class Opening:
    """What an occurrence that names a customer and a touch reads first (:func:`open_`)."""

    db: Raw
    workspace_id: uuid.UUID
    given: Attribution
    kind: str | None  # which of the attribution's fields names the touch (None: none does)
    ref: CustomerRef
    customer_row: Row | None
    touch_row: Row | None
    rows: list[Row]  # the caller's own rows, read beside them

    def touch(self) -> Touch | None:
        """The link named by ``code``, ``link_id`` or ``click_id``, read with its promoter;
        unknown ones are a 404."""
        if self.kind is None:
            return None
        return _touch(self.db, self.kind, getattr(self.given, self.kind), self.touch_row)

    async def customer(
        self, session: AsyncSession, now: datetime, source: str
    ) -> tuple[Customer, bool]:
        """The customer named by ``ref`` (created or updated by ``source_id``), locked; and
        whether it was created just now (then nothing references it yet)."""
        ref = self.ref
        if ref.id is not None:
            found = customers.found_by_id(
                self.db, self.workspace_id, ref.id, self.customer_row, param="customer.id"
            )
            return found, False
        return await customers.upsert_found(
            session, self.workspace_id, _upsert_of(ref), self.customer_row, now=now, source=source
        )


_OPENINGS: dict[tuple[str, str, str | None, str], Sql] = {}


def _opening_sql(lock: str, by: str, kind: str | None, beside: str) -> Sql:
    key = (lock, by, kind, beside)
    found = _OPENINGS.get(key)
    if found is None:
        # One row, whatever each part finds (a row of NULLs for a part that finds none), or
        # one for each row of ``beside``, the customer and the touch repeated on each.
        columns = ["c.*"]
        text = f" FROM (SELECT 1) AS one LEFT JOIN ({customers.SELECT_BY[by]}{lock}) AS c ON 1 = 1"
        if kind is not None:
            columns.append("t.*")
            text += f" LEFT JOIN ({_SELECT_TOUCH[kind]}) AS t ON 1 = 1"
        if beside:
            columns.append("b.*")
            text += f" LEFT JOIN ({beside}) AS b ON 1 = 1"
        found = _OPENINGS[key] = Sql("SELECT " + ", ".join(columns) + text)
    return found


async def open_(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    given: Attribution,
    ref: CustomerRef,
    beside: str = "",
    **params: Any,
) -> Opening:
    """Read in one statement (one round trip) the customer ``ref`` names, locked until the
    transaction ends, the touch ``given`` names, and the rows of the caller's ``beside``
    statement with its ``params`` (all of them but rows of NULLs only, which is what a part
    that finds nothing adds). :class:`Opening` answers the touch and the customer, 404s
    included, when the caller asks: after what it decides from its own rows.

    The customer waits for its lock before the statement returns, but every part reads as of
    the statement's start: ``beside`` must be a read whose answer the caller's transaction
    confirms another way (a purchase's replay check: the unique constraint decides a race)."""
    db = await raw(session)
    by = "id" if ref.id is not None else "source_id"
    named = given.given()
    kind = named[0] if named else None
    params[by] = ref.id if ref.id is not None else ref.source_id
    if kind is not None:
        params[kind] = getattr(given, kind)
    rows = await db.all(
        _opening_sql(customers.lock(db), by, kind, beside), workspace_id=workspace_id, **params
    )
    first = rows[0]
    at = customers.SELECT_WIDTH
    end = at + (0 if kind is None else _TOUCH_WIDTH[kind])
    return Opening(
        db,
        workspace_id,
        given,
        kind,
        ref,
        first[:at] if first[0] is not None else None,
        first[at:end] if end > at and first[at] is not None else None,
        [r[end:] for r in rows if any(v is not None for v in r[end:])],
    )


def _promoter(db: Raw, promoter_id: Any, row: Sequence[Any]) -> PromoterRef:
    """A promoter from its id and ``(email, customer_id, metadata)`` as stored."""
    email, customer_id, metadata = row
    return PromoterRef(
        db.uuid_of(promoter_id), email, db.uuid_or_none(customer_id), db.json_of(metadata) or {}
    )


async def referral_of(
    session: AsyncSession, workspace_id: uuid.UUID, customer_id: uuid.UUID
) -> Referral | None:
    db = await raw(session)
    row = await db.one(_REFERRAL, workspace_id=workspace_id, customer_id=customer_id)
    return None if row is None else _referral(db, workspace_id, customer_id, row)


async def _referral_and_promoter(
    session: AsyncSession, workspace_id: uuid.UUID, customer_id: uuid.UUID
) -> tuple[Referral, PromoterRef] | None:
    """The customer's referral and its promoter, in one lookup."""
    db = await raw(session)
    row = await db.one(_REFERRAL_AND_PROMOTER, workspace_id=workspace_id, customer_id=customer_id)
    return None if row is None else _referral_with_promoter(db, workspace_id, customer_id, row)


def _referral_with_promoter(
    db: Raw, workspace_id: uuid.UUID, customer_id: uuid.UUID, row: tuple[Any, ...]
) -> tuple[Referral, PromoterRef]:
    return _referral(db, workspace_id, customer_id, row), _promoter(db, row[2], row[8:11])


@dataclass(frozen=True, slots=True)
class History:
    """What a customer brings to its next purchase: how many purchases it has, its referral
    with the referral's promoter (``None``: not referred), and its cards in the programs
    asked about (``goodwill.loyalty.cards.known``)."""

    purchases: int
    referral: tuple[Referral, PromoterRef] | None
    cards: dict[uuid.UUID, tuple[uuid.UUID, str, datetime]] = field(default_factory=dict)


NO_HISTORY = History(0, None)  # a customer created in this transaction


async def history_of(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    customer_id: uuid.UUID,
    *,
    card_programs: Sequence[uuid.UUID] = (),
) -> History:
    """The customer's :class:`History`, in one statement, with its cards in ``card_programs``
    (by program: id, code, creation). Read it after the customer's row is locked
    (:func:`open_`): then no purchase or referral of the customer can commit
    between this read and the transaction's end."""
    db = await raw(session)
    programs = {f"program{i}": p for i, p in enumerate(card_programs)}
    rows = await db.all(
        _history_sql(len(programs)), workspace_id=workspace_id, customer_id=customer_id, **programs
    )
    count, referral = 0, None
    cards: dict[uuid.UUID, tuple[uuid.UUID, str, datetime]] = {}
    for row in rows:
        if row[0] is None:  # a card
            cards[db.uuid_of(row[2])] = (db.uuid_of(row[1]), row[6], db.time_of(row[8]))
            continue
        count = int(row[0])
        if row[1] is not None:
            referral = _referral_with_promoter(db, workspace_id, customer_id, row[1:])
    return History(count, referral, cards)


def _referral(
    db: Raw, workspace_id: uuid.UUID, customer_id: uuid.UUID, row: tuple[Any, ...]
) -> Referral:
    return view(
        Referral,
        {
            "id": db.uuid_of(row[0]),
            "workspace_id": workspace_id,
            "program_id": db.uuid_of(row[1]),
            "promoter_id": db.uuid_of(row[2]),
            "link_id": db.uuid_or_none(row[3]),
            "click_id": db.uuid_or_none(row[4]),
            "customer_id": customer_id,
            "source": row[5],
            "referred_at": db.time_of(row[6]),
            "created_at": db.time_of(row[7]),
        },
    )


async def promoter_ref(
    session: AsyncSession, workspace_id: uuid.UUID, promoter_id: uuid.UUID
) -> PromoterRef:
    db = await raw(session)
    row = await db.one(_PROMOTER, workspace_id=workspace_id, id=promoter_id)
    if row is None:
        raise NotFound(f"No promoter {promoter_id}")
    return _promoter(db, row[0], row[1:])


def is_self_referral(promoter: PromoterRef, customer: Customer) -> bool:
    if promoter.customer_id is not None and promoter.customer_id == customer.id:
        return True
    return bool(
        promoter.email and customer.email and promoter.email.lower() == customer.email.lower()
    )


async def attribute(
    session: AsyncSession,
    customer: Customer,
    touch: Touch | None,
    *,
    at: datetime,
    now: datetime,
    source_kind: str,
    new_customer: bool = False,
    history: History | None = None,
) -> Attributed:
    """Decide the attribution of something ``customer`` did at ``at``; writes nothing.
    ``new_customer``: created in this transaction, so it has no referral to look up;
    ``history``: the customer's, read already (:func:`history_of`), so its referral is known."""
    workspace_id = customer.workspace_id
    config = await workspace_config.current(session, workspace_id)
    if new_customer:
        found = None
    elif history is not None:
        found = history.referral
    else:
        found = await _referral_and_promoter(session, workspace_id, customer.id)
    if found is not None:
        existing, promoter = found
        program = config.program(existing.program_id)
        message = "the customer's referral"
        if touch is not None and touch.link.promoter_id != existing.promoter_id:
            message = (
                f"the customer was referred before by promoter {existing.promoter_id}; "
                "the first referral stands"
            )
        return Attributed(
            "existing",
            message,
            program,
            promoter,
            existing.link_id,
            existing.click_id,
            existing,
            "referral",
        )
    if touch is None:
        return Attributed("none", NOTHING_TO_ATTRIBUTE)
    link = touch.link
    program = config.program(link.program_id)
    promoter = touch.promoter or await promoter_ref(session, workspace_id, link.promoter_id)
    click_id = None if touch.click is None else touch.click.id
    block = None
    if is_self_referral(promoter, customer):
        block = Block(
            "self_referral",
            "self-referral: the customer is the promoter (the same customer or the same email)",
        )
    elif program.status == "archived":
        block = Block("program_archived", "the program is archived: it makes no new referrals")
    elif touch.click is not None:
        days = int(program.settings.get("attribution_window_days", 30))
        if at > touch.click.created_at + timedelta(days=days):
            block = Block(
                "attribution_expired",
                f"the click is older than the program's attribution window of {days} days",
            )
    if block is not None:
        return Attributed(
            "refused", block.reason, program, promoter, link.id, click_id, None, touch.via, block
        )
    referral = view(
        Referral,
        {
            "id": new_id(),
            "workspace_id": workspace_id,
            "program_id": program.id,
            "promoter_id": promoter.id,
            "link_id": link.id,
            "click_id": click_id,
            "customer_id": customer.id,
            "source": source_kind,
            "referred_at": at,
            "created_at": now,
        },
    )
    return Attributed(
        "referred",
        f"referred by promoter {promoter.id} through {touch.via}",
        program,
        promoter,
        link.id,
        click_id,
        referral,
        touch.via,
    )


async def save_referral(
    session: AsyncSession,
    referral: Referral,
    now: datetime,
    source: str,
    *,
    with_outbox: bool = False,
) -> None:
    """Write a new referral and its ``referral.created`` event.

    ``with_outbox``: written with the transaction's events, in their statement
    (``goodwill.events.service.write_with_outbox``), for a caller that holds the customer's
    lock and reads the referral back from nothing but memory; a concurrent referral of the
    customer then fails that statement (``goodwill.purchases.service.lost_a_race`` tells)."""
    values = {c.key: getattr(referral, c.key) for c in REFERRALS.columns}
    if with_outbox:
        write_with_outbox(session, (_WRITE_REFERRAL, [values]))
    elif await (await raw(session)).one(_INSERT_REFERRAL, **values) is None:
        raise Conflict("The customer was referred by a concurrent request; retry to see it")
    await emit(
        session,
        workspace_id=referral.workspace_id,
        type="referral.created",
        source=source,
        subject=referral.id,
        data=None,  # the row just written: rendered from it when read (created_events_data)
        now=now,
    )


async def created_events_data(
    session: AsyncSession, ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, tuple[uuid.UUID, dict[str, Any], dict[str, Any]]]:
    """The ``referral.created`` data and attributes of the referrals ``ids``, with their
    workspaces (``goodwill.events.refs``): a referral's row never changes once written."""
    rows = await session.scalars(select(Referral).where(among(session, Referral.id, ids)))
    return {
        r.id: (
            r.workspace_id,
            to_builtins(ReferralOut.of(r)),
            attributes(r.program_id, r.promoter_id),
        )
        for r in rows
    }


def days_since(referred_at: datetime | None, at: datetime) -> int | None:
    if referred_at is None:
        return None
    return max(0, (at - referred_at) // timedelta(days=1))


def customer_facts(customer: Customer) -> dict[str, Any]:
    return {
        "id": str(customer.id),
        "source_id": customer.source_id,
        "email": customer.email,
        "metadata": customer.metadata_,
    }


def occurrence_for(
    attributed: Attributed,
    *,
    trigger: str,
    at: datetime,
    now: datetime,
    facts: dict[str, Any],
    amount_minor: int | None = None,
    currency: str | None = None,
    block: Block | None = None,
) -> Occurrence:
    assert attributed.program is not None
    referred_at = None if attributed.referral is None else attributed.referral.referred_at
    days = days_since(referred_at, at)
    if days is not None:
        facts = {**facts, "days_since_referral": days}
    if attributed.promoter is not None:
        facts = {**facts, "promoter": {"metadata": attributed.promoter.metadata_}}
    return Occurrence(
        trigger=trigger,
        at=at,
        now=now,
        program_status=attributed.program.status,
        program_currency=attributed.program.currency,
        facts=facts,
        amount_minor=amount_minor,
        currency=currency,
        referred_at=referred_at,
        block=block or attributed.block,
    )


def target_for(
    attributed: Attributed,
    customer: Customer,
    source_type: str,
    source_id: uuid.UUID,
    purchase_id: uuid.UUID | None = None,
) -> grant.Target:
    assert attributed.program is not None
    assert attributed.promoter is not None
    return grant.Target(
        program=attributed.program,
        promoter_id=attributed.promoter.id,
        referral_id=None if attributed.referral is None else attributed.referral.id,
        customer_id=customer.id,
        source_type=source_type,
        source_id=source_id,
        purchase_id=purchase_id,
    )
