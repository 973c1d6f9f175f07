"""Run 4: `/queue` and `/take` on a country-sized database.

PostgreSQL is loaded with CASES cases and ten messages each (bulk, in SQL: message bodies
are random bytes, as ciphertext looks), spread over REGIONS x DISTRICTS x SCHOOLS places,
of which 1 % are open, 4 % claimed and 95 % closed; 5 % urgent, 15 % high. Then the service
functions the handlers call are timed, each in its own transaction as the middleware runs
it: `/queue` is `queue.list_queue` and the place names of each listed case; `/take` is
`queue.claim` of the case at the top of the psychologist's queue and
`conversation.show_history` (the case's messages decrypted and sent to them), committed.
The cases that get taken have real keys and sealed messages; the others need none.
"""

from __future__ import annotations

import base64
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import and_, func, select, text

from benchmarks.common import (
    BOT_TOKEN,
    Figure,
    Result,
    create_database,
    drop_database,
    fresh_database_name,
    percentile,
    settle_gc,
)
from bot.config import Settings
from bot.core import Core, create_core
from bot.db.models import Case, CaseMessage, Member
from bot.domain import Role
from bot.services.casework import conversation
from bot.services.routing import place_names, queue

TARGET_MS = 20.0
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CATEGORIES = (
    "suicide_self_harm",
    "violence",
    "sexual_abuse",
    "home_abuse",
    "bullying",
    "online_extortion",
    "substances",
    "distress",
)


@dataclass(frozen=True)
class Sizes:
    cases: int
    messages_per_case: int = 10
    regions: int = 10
    districts_per_region: int = 20
    schools_per_district: int = 10
    queue_calls: int = 1000
    takes: int = 500
    measured_psychologists: int = 20


FULL = Sizes(cases=1_000_000)
# Fewer places, so that the 1 % of open cases still fill every measured queue.
SMOKE = Sizes(
    cases=10_000,
    regions=2,
    districts_per_region=5,
    queue_calls=50,
    takes=40,
    measured_psychologists=5,
)


def _code_sql() -> str:
    """Case codes as SQL: i times an odd constant modulo 2**40 (a bijection, so codes are
    unique) written as 8 Crockford base32 characters, like bot.services.casework.codes makes."""
    chars = [f"substr('{ALPHABET}', ((x >> {5 * k}) & 31)::int + 1, 1)" for k in range(7, -1, -1)]
    return " || ".join(chars)


async def _drop_indexes(conn: asyncpg.Connection, table: str) -> list[str]:
    """Drop the table's indexes that back no constraint; their definitions, to rebuild."""
    rows = await conn.fetch(
        "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.schemaname = 'public' "
        "AND i.tablename = $1 AND NOT EXISTS "
        "(SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)",
        table,
    )
    for row in rows:
        await conn.execute(f'DROP INDEX "{row["indexname"]}"')
    return [row["indexdef"] for row in rows]


async def _load(
    conn: asyncpg.Connection,
    sizes: Sizes,
    places: list[tuple[int, int, int, int]],
    timings: dict[str, float],
) -> None:
    """Bulk-load cases and messages in SQL, secondary indexes dropped and rebuilt after."""
    started = time.perf_counter()
    await conn.execute("SET session_replication_role = replica")  # no FK triggers
    await conn.execute(
        "CREATE TEMP TABLE bench_places (idx int PRIMARY KEY, district_id int, region_id int, "
        "first_school int, member_id int)"
    )
    await conn.executemany(
        "INSERT INTO bench_places VALUES ($1, $2, $3, $4, $5)",
        [(i, *place) for i, place in enumerate(places)],
    )
    case_indexes = await _drop_indexes(conn, "cases")
    message_indexes = await _drop_indexes(conn, "case_messages")
    pk = await conn.fetchrow(
        "SELECT conname, pg_get_constraintdef(oid) AS definition FROM pg_constraint "
        "WHERE conrelid = 'case_messages'::regclass AND contype = 'p'"
    )
    await conn.execute(f'ALTER TABLE case_messages DROP CONSTRAINT "{pk["conname"]}"')
    categories = "ARRAY[" + ",".join(f"'{c}'" for c in CATEGORIES) + "]"
    await conn.execute(f"""
        INSERT INTO cases (id, code, school_id, district_id, region_id, pool_district_id,
            pool_region_id, language, status, priority, priority_rank, category,
            psychologist_id, wrapped_key, kek_id, chat_id_enc, muted, unreachable,
            created_at, claimed_at, closed_at, outcome, last_student_at, awaiting_since,
            next_deadline_at, escalation_level, escalations, deadline_breaches, message_count)
        SELECT i, {_code_sql()},
            p.first_school + abs(hashint4(i * 11)) % {sizes.schools_per_district},
            p.district_id, p.region_id, p.district_id, p.region_id,
            (ARRAY['ru','ky','kk'])[1 + i % 3], st.status,
            pr.priority, pr.rank, ({categories})[1 + abs(hashint4(i * 7)) % 8],
            CASE WHEN st.status = 'open' THEN NULL ELSE p.member_id END,
            decode(md5(i::text) || md5((i + 1)::text), 'hex'), 'bench',
            decode(md5((i + 2)::text), 'hex'), false, false,
            t.created_at,
            CASE WHEN st.status = 'open' THEN NULL ELSE t.created_at + interval '10 min' END,
            CASE WHEN st.status = 'closed' THEN t.created_at + interval '2 days' END,
            CASE WHEN st.status = 'closed' THEN 'resolved' END,
            t.created_at + interval '9 min',
            CASE WHEN st.status = 'open' THEN t.created_at END,
            CASE WHEN st.status = 'open' THEN t.created_at + interval '1 day' END,
            0, 0, 0, {sizes.messages_per_case}
        FROM generate_series(1, {sizes.cases}) AS i
        CROSS JOIN LATERAL (SELECT (i::bigint * 2654435761) % 1099511627776 AS x) AS c
        JOIN bench_places p ON p.idx = abs(hashint4(i)) % {len(places)}
        CROSS JOIN LATERAL (SELECT CASE WHEN abs(hashint4(i * 3 + 1)) % 100 = 0 THEN 'open'
            WHEN abs(hashint4(i * 3 + 1)) % 100 < 5 THEN 'claimed' ELSE 'closed' END
            AS status) AS st
        CROSS JOIN LATERAL (SELECT CASE WHEN abs(hashint4(i * 3 + 2)) % 100 < 5 THEN 'urgent'
            WHEN abs(hashint4(i * 3 + 2)) % 100 < 20 THEN 'high' ELSE 'normal' END
            AS priority, CASE WHEN abs(hashint4(i * 3 + 2)) % 100 < 5 THEN 0
            WHEN abs(hashint4(i * 3 + 2)) % 100 < 20 THEN 1 ELSE 2 END AS rank) AS pr
        CROSS JOIN LATERAL (SELECT now() - CASE WHEN st.status = 'closed'
            THEN interval '7 days' + (abs(hashint4(i * 5)) % 63072000) * interval '1 second'
            ELSE (abs(hashint4(i * 5)) % 604800) * interval '1 second' END
            AS created_at) AS t
    """)
    await conn.execute(
        "SELECT setval(pg_get_serial_sequence('cases', 'id'), (SELECT max(id) FROM cases))"
    )
    timings["cases_s"] = round(time.perf_counter() - started, 1)
    step = 100_000
    for low in range(1, sizes.cases + 1, step):
        await conn.execute(f"""
            INSERT INTO case_messages (id, case_id, author, member_id, kind, body_enc,
                source_message_id, created_at)
            SELECT gen_random_uuid(), c.id,
                CASE WHEN m % 3 = 2 AND c.status <> 'open' THEN 'psychologist'
                     ELSE 'student' END,
                CASE WHEN m % 3 = 2 AND c.status <> 'open' THEN c.psychologist_id END,
                'text', decode(repeat(md5(c.id::text || ':' || m::text), 3), 'hex'),
                m + 1, c.created_at + m * interval '1 minute'
            FROM cases c CROSS JOIN generate_series(0, {sizes.messages_per_case - 1}) AS m
            WHERE c.id BETWEEN {low} AND {low + step - 1}
        """)
    timings["messages_s"] = round(time.perf_counter() - started - timings["cases_s"], 1)
    rebuilt = time.perf_counter()
    await conn.execute(
        f'ALTER TABLE case_messages ADD CONSTRAINT "{pk["conname"]}" {pk["definition"]}'
    )
    for definition in case_indexes + message_indexes:
        await conn.execute(definition)
    await conn.execute("SET session_replication_role = origin")
    started = time.perf_counter()
    await conn.execute("VACUUM ANALYZE cases")
    await conn.execute("VACUUM ANALYZE case_messages")
    # Write the bulk load's dirty pages out now, as a server in steady state would have
    # long done: otherwise the checkpoint it triggered flushes gigabytes while the takes
    # below commit, and their commits wait behind it.
    await conn.execute("CHECKPOINT")
    timings["vacuum_analyze_s"] = round(time.perf_counter() - started, 1)
    timings["indexes_s"] = round(time.perf_counter() - rebuilt, 1)


async def _seed_places(app: Core, sizes: Sizes) -> list[tuple[int, int, int, int]]:
    """Regions, districts, schools and one psychologist per district: (district, region,
    first school, psychologist) per district."""
    r, d, s = sizes.regions, sizes.districts_per_region, sizes.schools_per_district
    async with app.engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO regions"
                " (id, country, name, timezone, work_start_hour, work_end_hour) "
                f"SELECT n, CASE WHEN n % 2 = 0 THEN 'KZ' ELSE 'KG' END, 'Region ' || n, "
                f"'Asia/Almaty', 9, 18 FROM generate_series(1, {r}) n"
            )
        )
        await conn.execute(
            text(
                f"INSERT INTO districts (id, region_id, name) SELECT n, 1 + (n - 1) / {d}, "
                f"'District ' || n FROM generate_series(1, {r * d}) n"
            )
        )
        await conn.execute(
            text(
                f"INSERT INTO schools (id, district_id, name, languages) SELECT n, "
                f"1 + (n - 1) / {s}, 'School № ' || n, 'ky,ru' "
                f"FROM generate_series(1, {r * d * s}) n"
            )
        )
        for table in ("regions", "districts", "schools"):
            await conn.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"
                )
            )
    places = []
    async with app.sessionmaker() as session, session.begin():
        for district in range(1, r * d + 1):
            region = 1 + (district - 1) // d
            member = _psychologist(app, 30_000_000 + district, region, district)
            session.add(member)
            await session.flush()
            places.append((district, region, 1 + (district - 1) * s, member.id))
        for region in (1, 2):  # region-wide psychologists see a whole region's queue
            session.add(_psychologist(app, 31_000_000 + region, region, None))
    return places


def _psychologist(app: Core, telegram_id: int, region: int, district: int | None) -> Member:
    member = Member(
        pseudonym=app.rt.vault.pseudonyms.member_id(telegram_id),
        role=Role.PSYCHOLOGIST,
        region_id=region,
        district_id=district,
        language="ru",
        active=True,
        created_at=datetime.now(UTC),
    )
    app.rt.vault.new_member_key(member)
    member.chat_id_enc = app.rt.vault.seal_for_member(
        member, "member", "chat_id", str(telegram_id)
    )
    return member


async def _prepare_takes(app: Core, members: list[Member], per_member: int) -> list[list[str]]:
    """The cases each psychologist will take, top of their queue first, given real keys,
    a sealed chat id and sealed messages (the bulk-loaded bytes open with no key)."""
    plan = []
    planned: set[int] = set()
    async with app.sessionmaker() as session, session.begin():
        for member in members:
            # A region-wide psychologist sees the cases of the district ones: no case is
            # planned twice.
            listed, _ = await queue.list_queue(session, member, limit=per_member + len(planned))
            cases = [case for case in listed if case.id not in planned][:per_member]
            planned.update(case.id for case in cases)
            for case in cases:
                app.rt.vault.new_case_key(case)
                case.chat_id_enc = app.rt.vault.seal_for_case(
                    case, "case", "chat_id", str(40_000_000 + case.id)
                )
                messages = await session.scalars(
                    select(CaseMessage).where(CaseMessage.case_id == case.id)
                )
                for message in messages:
                    message.body_enc = app.rt.vault.seal_for_case(
                        case, f"msg/{message.id}", "body", "мне страшно идти в школу"
                    )
            plan.append([case.code for case in cases])
    return plan


async def _time_queue(app: Core, member_id: int) -> float:
    started = time.perf_counter()
    async with app.sessionmaker() as session, session.begin():
        member = await session.get(Member, member_id)  # as IdentityMiddleware finds them
        assert member is not None
        cases, _total = await queue.list_queue(session, member)
        await place_names.load_places(session, cases)  # as handlers/psychologist.show_queue
        for case in cases:
            await place_names.place_names(session, case)
    return (time.perf_counter() - started) * 1000


async def _time_take(app: Core, member_id: int, code: str) -> tuple[float, float, float]:
    """The whole `/take` (claim, history, commit); the claim alone; the commit alone."""
    started = time.perf_counter()
    async with app.sessionmaker() as session:
        async with session.begin():
            member = await session.get(Member, member_id)
            assert member is not None
            claimed = await queue.claim(session, app.rt, member, code)
            if claimed.already_yours:
                raise RuntimeError(f"{code} was taken before")
            claim_ms = (time.perf_counter() - started) * 1000
            await conversation.show_history(session, app.rt, member, claimed.case)
            committing = time.perf_counter()
        done = time.perf_counter()
    return (done - started) * 1000, claim_ms, (done - committing) * 1000


async def _plans(app: Core) -> dict[str, Any]:
    """EXPLAIN ANALYZE of the two queue queries for one district psychologist."""
    async with app.sessionmaker() as session:
        member = await session.scalar(
            select(Member).where(Member.district_id.is_not(None)).order_by(Member.id)
        )
        assert member is not None
        where = and_(Case.status == "open", await queue.pool_clause(session, member))
        listing = select(Case.id).where(where).order_by(Case.priority_rank, Case.created_at)
        found = {}
        for name, stmt in (
            ("count", select(func.count()).select_from(Case).where(where)),
            ("page", listing.limit(queue.QUEUE_PAGE)),
        ):
            compiled = stmt.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
            rows = await session.execute(text(f"EXPLAIN (ANALYZE, BUFFERS) {compiled}"))
            found[name] = [row[0] for row in rows]
        return found


async def run(smoke: bool) -> Result:
    sizes = SMOKE if smoke else FULL
    result = Result("queue")
    name = fresh_database_name("queue")
    url = await create_database(name)
    keys_dir = tempfile.mkdtemp(prefix="tl-bench-audit-")
    timings: dict[str, float] = {}
    try:
        settings = Settings(
            bot_token=BOT_TOKEN,
            database_url=url,
            telegram_api="http://127.0.0.1:9",
            master_key=base64.urlsafe_b64encode(os.urandom(32)).decode(),
            # Its audit key is made beside it, not in the working directory.
            master_key_file=Path(keys_dir) / "trustline.key",
            _env_file=None,
        )
        app = await create_core(settings, migrate=False)
        try:
            places = await _seed_places(app, sizes)
            conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
            try:
                await _load(conn, sizes, places, timings)
                size = await conn.fetchval(
                    "SELECT pg_size_pretty(pg_database_size(current_database()))"
                )
                counts = dict(
                    await conn.fetch("SELECT status, count(*) FROM cases GROUP BY status")
                )
            finally:
                await conn.close()
            async with app.sessionmaker() as session:
                district_members = list(
                    (
                        await session.scalars(
                            select(Member)
                            .where(Member.district_id.is_not(None))
                            .order_by(Member.id)
                        )
                    ).all()
                )
                region_members = list(
                    (
                        await session.scalars(select(Member).where(Member.district_id.is_(None)))
                    ).all()
                )
            step = max(1, len(district_members) // sizes.measured_psychologists)
            measured = district_members[::step][: sizes.measured_psychologists] + region_members
            per_member = -(-sizes.takes // len(measured))
            plan = await _prepare_takes(app, measured, per_member)
            settle_gc()  # as `trustline run` does after start
            for member in measured:  # warm: a running bot has its statements prepared
                await _time_queue(app, member.id)
            queue_ms = [
                await _time_queue(app, measured[i % len(measured)].id)
                for i in range(sizes.queue_calls)
            ]
            take_ms, claim_ms, commit_ms = [], [], []
            for i in range(sizes.takes):
                member = measured[i % len(measured)]
                codes = plan[i % len(measured)]
                if i // len(measured) >= len(codes):
                    continue
                total, claim, commit = await _time_take(app, member.id, codes[i // len(measured)])
                take_ms.append(total)
                claim_ms.append(claim)
                commit_ms.append(commit)
            plans = await _plans(app)
        finally:
            await app.close()
    finally:
        await drop_database(name)
        shutil.rmtree(keys_dir, ignore_errors=True)
    result.details = {
        "sizes": sizes.__dict__,
        "load_timings": timings,
        "database_size": size,
        "cases_by_status": counts,
        "psychologists_measured": len(measured),
        "queue_ms": {
            "p50": percentile(queue_ms, 50),
            "p99": percentile(queue_ms, 99),
            "slowest": sorted(queue_ms)[-5:],
            "n": len(queue_ms),
        },
        "take_ms": {
            "p50": percentile(take_ms, 50),
            "p99": percentile(take_ms, 99),
            "slowest": sorted(take_ms)[-5:],
            "n": len(take_ms),
        },
        "claim_only_ms": {"p50": percentile(claim_ms, 50), "p99": percentile(claim_ms, 99)},
        "commit_only_ms": {
            "p50": percentile(commit_ms, 50),
            "p99": percentile(commit_ms, 99),
            "slowest": sorted(commit_ms)[-5:],
        },
        "plans": plans,
    }
    label = f"{sizes.cases:,} cases"
    q99, t99 = percentile(queue_ms, 99), percentile(take_ms, 99)
    result.add(
        Figure(f"/queue p50, {label}", percentile(queue_ms, 50), "ms"),
        Figure(
            f"/queue p99, {label}", q99, "ms", target=f"≤ {TARGET_MS:g} ms", met=q99 <= TARGET_MS
        ),
        Figure(f"/take p50, {label}", percentile(take_ms, 50), "ms"),
        Figure(
            f"/take p99, {label}", t99, "ms", target=f"≤ {TARGET_MS:g} ms", met=t99 <= TARGET_MS
        ),
    )
    return result
