"""Typed models. Content columns (`*_enc`) hold AES-GCM ciphertexts only (see bot.crypto)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.base import Base, UTCDateTime

# --- organisation: region → district → school -------------------------------------------


class Region(Base):
    __tablename__ = "regions"
    __table_args__ = (UniqueConstraint("country", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    country: Mapped[str] = mapped_column(String(2))
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Bishkek")
    # Working hours of the region's psychologists, local time [start, end).
    work_start_hour: Mapped[int] = mapped_column(Integer, default=9)
    work_end_hour: Mapped[int] = mapped_column(Integer, default=18)


class District(Base):
    __tablename__ = "districts"
    __table_args__ = (UniqueConstraint("region_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("regions.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))


class School(Base):
    __tablename__ = "schools"
    __table_args__ = (UniqueConstraint("district_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    district_id: Mapped[int] = mapped_column(ForeignKey("districts.id"), index=True)
    name: Mapped[str] = mapped_column(String(300))
    languages: Mapped[str] = mapped_column(String(20))  # e.g. "ky,ru"


class Poster(Base):
    """One printed poster. Never deleted: a retired poster keeps routing its scans."""

    __tablename__ = "posters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"), index=True)
    classroom: Mapped[str] = mapped_column(String(40))
    languages: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class PosterScan(Base):
    """Scan counts per poster per ISO week, linked to no one."""

    __tablename__ = "poster_scans"

    poster_id: Mapped[int] = mapped_column(ForeignKey("posters.id"), primary_key=True)
    iso_week: Mapped[str] = mapped_column(String(8), primary_key=True)  # "2026-W48"
    count: Mapped[int] = mapped_column(Integer, default=0)


# --- keys --------------------------------------------------------------------------------


class KeyMaterial(Base):
    """Long-lived secrets (the pseudonym root), stored only wrapped by the master key."""

    __tablename__ = "key_material"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    wrapped: Mapped[bytes] = mapped_column(LargeBinary)
    kek_id: Mapped[str] = mapped_column(String(16))


# --- people ------------------------------------------------------------------------------


class Member(Base):
    """A supervisor, psychologist or school staff account. Known by pseudonym only."""

    __tablename__ = "members"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pseudonym: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    region_id: Mapped[int | None] = mapped_column(ForeignKey("regions.id"), nullable=True)
    district_id: Mapped[int | None] = mapped_column(ForeignKey("districts.id"), nullable=True)
    school_id: Mapped[int | None] = mapped_column(ForeignKey("schools.id"), nullable=True)
    language: Mapped[str] = mapped_column(String(2), default="ru")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    kek_id: Mapped[str] = mapped_column(String(16))
    chat_id_enc: Mapped[bytes] = mapped_column(LargeBinary)
    active_case_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Conversation step that must survive a restart: "" or, while staff order posters,
    # "posters:<languages>:<paper>" (the classroom list is awaited). No content.
    step: Mapped[str] = mapped_column(String(40), default="", server_default="")
    # A digest of the command menu last queued for this member's chat (bot.delivery.menus):
    # a start queues a member's menu only when it changed, and only one process does so.
    menu_digest: Mapped[str | None] = mapped_column(String(16), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Invite(Base):
    __tablename__ = "invites"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    region_id: Mapped[int | None] = mapped_column(ForeignKey("regions.id"), nullable=True)
    district_id: Mapped[int | None] = mapped_column(ForeignKey("districts.id"), nullable=True)
    school_id: Mapped[int | None] = mapped_column(ForeignKey("schools.id"), nullable=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("members.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    used_by: Mapped[int | None] = mapped_column(ForeignKey("members.id"), nullable=True)


class Student(Base):
    """A student is an HMAC pseudonym; the chat id lives encrypted on each case."""

    __tablename__ = "students"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pseudonym: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    language: Mapped[str | None] = mapped_column(String(2), nullable=True)
    school_id: Mapped[int | None] = mapped_column(ForeignKey("schools.id"), nullable=True)
    district_id: Mapped[int | None] = mapped_column(ForeignKey("districts.id"), nullable=True)
    region_id: Mapped[int | None] = mapped_column(ForeignKey("regions.id"), nullable=True)
    active_case_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Conversation step that must survive a restart ("", "pick_region", "pick_district").
    step: Mapped[str] = mapped_column(String(20), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Flood control: a fixed window per minute and per day, no timestamps of messages.
    window_start: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    window_count: Mapped[int] = mapped_column(Integer, default=0)
    day_start: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    day_cases: Mapped[int] = mapped_column(Integer, default=0)


# --- cases -------------------------------------------------------------------------------


class Case(Base):
    __tablename__ = "cases"
    __table_args__ = (
        Index("ix_cases_queue", "status", "priority_rank", "created_at"),
        # A pool's queue: the open cases of a district, or of a region's cases that name no
        # district, urgent first, then oldest. Partial, so a queue reads its own few rows
        # and not every open case of the country (benchmarks/BENCHMARKS.md, run 4).
        Index(
            "ix_cases_open_by_district",
            "pool_district_id",
            "priority_rank",
            "created_at",
            postgresql_where=text("status = 'open'"),
            sqlite_where=text("status = 'open'"),
        ),
        Index(
            "ix_cases_open_by_region",
            "pool_region_id",
            "priority_rank",
            "created_at",
            postgresql_where=text("status = 'open'"),
            sqlite_where=text("status = 'open'"),
        ),
        Index("ix_cases_deadline", "status", "next_deadline_at"),
        # Statistics select a region's cases by the day they were opened.
        Index("ix_cases_region_created", "region_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(10), unique=True)  # "7KQ2M9XD" (shown "#7KQ2-M9XD")
    student_id: Mapped[int | None] = mapped_column(
        ForeignKey("students.id", ondelete="SET NULL"), nullable=True, index=True
    )
    school_id: Mapped[int | None] = mapped_column(ForeignKey("schools.id"), nullable=True)
    district_id: Mapped[int | None] = mapped_column(ForeignKey("districts.id"), nullable=True)
    region_id: Mapped[int | None] = mapped_column(ForeignKey("regions.id"), nullable=True)
    # The pool: a district, else a region, else nobody (supervisors of the region).
    pool_district_id: Mapped[int | None] = mapped_column(
        ForeignKey("districts.id"), nullable=True, index=True
    )
    pool_region_id: Mapped[int | None] = mapped_column(
        ForeignKey("regions.id"), nullable=True, index=True
    )
    language: Mapped[str] = mapped_column(String(2))
    status: Mapped[str] = mapped_column(String(10))
    priority: Mapped[str] = mapped_column(String(10))
    priority_rank: Mapped[int] = mapped_column(Integer)
    category: Mapped[str] = mapped_column(String(30))
    psychologist_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id"), nullable=True, index=True
    )
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    kek_id: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # The retention period ("YYYY-MM") whose key, kept outside the database, wraps the data
    # key under the master key (bot/crypto/periods.py); NULL before migration 0016.
    key_period: Mapped[str | None] = mapped_column(String(7), nullable=True, index=True)
    chat_id_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    signals_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    closing_note_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    # The note left with /transfer or /release for whoever takes the case next (sealed
    # under the case key; cleared once shown to them).
    handover_note_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(30), nullable=True)
    muted: Mapped[bool] = mapped_column(Boolean, default=False)
    unreachable: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    first_answer_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_student_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Set when the student wrote and nobody has answered yet; cleared by an answer.
    awaiting_since: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    shredded_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Deadlines are data, not timers: the worker scans next_deadline_at.
    next_deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    escalations: Mapped[int] = mapped_column(Integer, default=0)
    deadline_breaches: Mapped[int] = mapped_column(Integer, default=0)
    message_count: Mapped[int] = mapped_column(Integer, default=0)
    # Student safety (handlers/student.py, bot/services/casework/safety.py): when the student's own
    # urgent act (the 🆘 button, an urgent message) last alerted the holder or the pool, when
    # the student last got the urgent reply, and when the bot last asked "are you in danger
    # right now?". They rate-limit re-alerts (1 min), urgent replies (10 min) and the
    # question (once a day).
    urgent_alerted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    urgent_replied_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    safety_asked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class CaseMessage(Base):
    __tablename__ = "case_messages"
    __table_args__ = (Index("ix_case_messages_case_created", "case_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    author: Mapped[str] = mapped_column(String(14))
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), nullable=True)
    kind: Mapped[str] = mapped_column(String(12))
    body_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    file_id_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    # Message id in the author's own chat (not an identity): needed for copyMessage.
    source_message_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Relay(Base):
    """A message the bot put into a member's chat on behalf of a case (for reply routing)."""

    __tablename__ = "relays"

    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), primary_key=True)
    message_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)


class ReplyTemplate(Base):
    """A saved reply of a member, in one language, sealed under the member's key (staff's
    own words, never a student's). A supervisor's `shared` ones are offered to the
    psychologists of the supervisor's district."""

    __tablename__ = "reply_templates"
    __table_args__ = (Index("ix_reply_templates_member_language", "member_id", "language"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    language: Mapped[str] = mapped_column(String(2))
    shared: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    body_enc: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CaseRecusal(Base):
    """A psychologist stepped aside from a case; the reason is never recorded."""

    __tablename__ = "case_recusals"

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), primary_key=True)


# --- audit, outbox, idempotency ----------------------------------------------------------


class AuditEntry(Base):
    """Keyed hash-chained audit log: each row's hash is an HMAC under the audit key named by
    `key_id` (kept outside the database) over its stripe, the previous row's hash and its
    content. Rows from before keyed chaining have no key_id (plain SHA-256)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(40))
    event: Mapped[str] = mapped_column(String(40))
    case_code: Mapped[str | None] = mapped_column(String(10), nullable=True, index=True)
    detail: Mapped[str] = mapped_column(Text, default="")
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    stripe: Mapped[int | None] = mapped_column(Integer, nullable=True)  # its AuditHead's id
    key_id: Mapped[str | None] = mapped_column(String(16), nullable=True)


class AuditHead(Base):
    """One row: the last audit hash. Locking it orders concurrent writers of the chain."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_id: Mapped[int] = mapped_column(Integer, default=0)
    last_hash: Mapped[str] = mapped_column(String(64))
    count: Mapped[int] = mapped_column(Integer, default=0)


class OutboxMessage(Base):
    """A Bot API call to make after commit. The payload is sealed under the target's key."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "not_before"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    not_before: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(12), default="pending")
    # Exactly one target: the student of a case, a member, or a chat key (see below).
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), nullable=True)
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), nullable=True)
    method: Mapped[str] = mapped_column(String(30))
    payload_enc: Mapped[bytes] = mapped_column(LargeBinary)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    error: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # After a relay lands in a member's chat, remember it for reply routing.
    relay_case_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Neither a case nor a member: a reply to whoever wrote, keyed by an HMAC of their chat
    # (bot.delivery.outbox.Chat) while it waits; erased once the row is final.
    chat_key: Mapped[bytes | None] = mapped_column(LargeBinary(32), nullable=True)
    # Telegram's id of the message once sent (in the target's chat), and, for a pool's card
    # of a case, that case: its message is edited to "taken" once someone takes the case
    # (bot.services.casework.notify.cards_taken), then the mark is cleared.
    message_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    card_case_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)


class ProcessedUpdate(Base):
    """Update ids seen recently, so a redelivered update is handled once."""

    __tablename__ = "processed_updates"

    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


# --- statistics --------------------------------------------------------------------------


class MonthlySummary(Base):
    """A monthly summary went out for a scope ("region:12", or "all" for supervisors of every
    region). The primary key makes the send happen once even when several instances reach
    the new month together: the second insert fails."""

    __tablename__ = "monthly_summaries"

    scope: Mapped[str] = mapped_column(String(24), primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)  # "2026-11", local time
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recipients: Mapped[int] = mapped_column(Integer, default=0)


class AuditDigestSent(Base):
    """The supervisors got the digest of an audit checkpoint for this period (a number of
    `audit_digest_hours` periods since the epoch); the primary key makes it once per period
    whatever the number of instances."""

    __tablename__ = "audit_digests_sent"

    period: Mapped[int] = mapped_column(Integer, primary_key=True)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime())
    digest: Mapped[str] = mapped_column(String(64))


# --- operations ----------------------------------------------------------------------------


class SendSeat(Base):
    """One of the bot's sends per window (30 for Telegram's 30 a second), shared by every
    process on one PostgreSQL database (bot/delivery/ratelimit.py). Times are seconds since
    the epoch on PostgreSQL's clock; `token` counts claims and fences a late write."""

    __tablename__ = "send_seats"

    seat: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    token: Mapped[int] = mapped_column(BigInteger)
    free_at: Mapped[float] = mapped_column(Double)
    paused_until: Mapped[float] = mapped_column(Double)


class DeadLetter(Base):
    """An update that failed on every try and was set aside, so the updates behind it are
    not held up. The columns say where and how it failed, never what it said or who sent
    it: the update itself is kept only sealed, under its own data key wrapped by the master
    key, for `trustline deadletters retry`, and erased once it was handled."""

    __tablename__ = "dead_letters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    update_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    place: Mapped[str] = mapped_column(String(200))  # our frames, e.g. "student.py:88 < …"
    error: Mapped[str] = mapped_column(String(100))  # the exception's class
    attempts: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(12), default="open")  # open, handled
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    kek_id: Mapped[str | None] = mapped_column(String(16), nullable=True)
    update_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
