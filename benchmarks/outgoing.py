"""Run 3: psychologists' replies at Telegram's limits.

Psychologists hold the students' cases and answer with Telegram's *reply* to each case's
card, as they do when they run several cases at once. The fake Bot API enforces Telegram's
flood limits (30 sends/s overall, 1/s per chat, 429 with retry_after beyond), and the bot
runs with its production limiter. Measured: from the first reply handed to the bot to the
last one reaching its student, against the floor replies / 30 s, and the 429s.

The setup (students writing, cases taken) runs with the limiter lifted, then the bot is
restarted with the production settings for the measured part, as a deploy would.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from benchmarks.common import CpuWindow, Figure, Result, settle_gc
from benchmarks.rig import UNLIMITED, Arrivals, TrustLineRig, push_all, take_codes
from benchmarks.workload import Message, interleaved, marked, marker_of, students
from bot.services.casework import codes
from fake_telegram import Call, TgUser

TELEGRAM_PER_S = 30
SLACK = 36 / 33.3  # the target: 36 s for the 33.3 s floor of 1,000 replies


@dataclass(frozen=True)
class Sizes:
    replies: int
    students: int
    districts: int = 5
    schools_per_district: int = 2
    psychologists_per_district: int = 2


FULL = Sizes(replies=1000, students=300)
SMOKE = Sizes(replies=60, students=20)


def _relays(calls: list[Call], takers: dict[str, TgUser]) -> dict[str, int]:
    """Case code -> message id of a message of the case in the chat of the psychologist
    who took it, sent after the take: the student's words, which only the taker gets (the
    pool's cards carry no words and are no case message a reply can answer)."""
    found: dict[str, int] = {}
    for call in calls:
        if (
            not call.ok
            or call.message is None
            or not call.is_send
            or call.params.get("reply_markup", {}).get("inline_keyboard")
        ):
            continue
        for code, taker in takers.items():
            if call.chat_id == taker.id and codes.display(code) in (call.text or ""):
                found[code] = call.message["message_id"]  # the newest one wins
    return found


async def run(smoke: bool) -> Result:
    sizes = SMOKE if smoke else FULL
    result = Result("outgoing")
    writers = students(sizes.students, first_id=12_000_000)
    async with TrustLineRig("outgoing") as rig:
        api = rig.api
        await rig.seed_places(sizes.districts, sizes.schools_per_district)
        await rig.start_bot(UNLIMITED)
        await rig.join_psychologists(sizes.psychologists_per_district)
        rig.scan_posters(writers)
        await rig.settle()
        start = len(api.calls)
        push_all(api, interleaved(writers, 1, first_seq=1, seed=3))
        await rig.settle()
        psychologists = {p.user.id: p.user for p in rig.psychologists}
        takers = take_codes(api.calls[start:], psychologists)
        taken_from = len(api.calls)
        for code, user in takers.items():
            api.callback_query(user, f"take:{code}")
        await rig.settle()
        cards = _relays(api.calls[taken_from:], takers)
        case_codes = sorted(cards)
        if len(case_codes) < sizes.students:
            raise RuntimeError(f"only {len(case_codes)} of {sizes.students} cases were taken")

        # --- the measured part: production limits on both sides -------------------------
        bot = await rig.start_bot()  # TRUSTLINE_SEND_PER_SECOND etc. at their defaults
        api.rate_limits(TELEGRAM_PER_S, 1)
        api.clear()
        students_chats = {u.id for u in writers}

        def key(call: Call) -> int | None:
            return marker_of(call.text) if call.chat_id in students_chats else None

        arrivals = Arrivals(api, key, len(api.calls))
        replies = []
        for i in range(sizes.replies):
            code = case_codes[i % len(case_codes)]
            replies.append(Message(takers[code], marked("Я тебя слышу, расскажи ещё", i), i))
        settle_gc()
        cpu = CpuWindow({"bot": bot.pid, "fake_api": os.getpid()})
        cpu.start()
        ids = {}
        for i, reply in enumerate(replies):
            code = case_codes[i % len(case_codes)]
            update = api.reply_to(reply.user, cards[code], reply.text)
            ids[reply.seq] = update["update_id"]
        floor = sizes.replies / TELEGRAM_PER_S
        missing = await arrivals.wait(set(ids), timeout=floor * 3 + 60)
        cpu.stop()
        if not arrivals.at:
            raise RuntimeError(f"no reply reached a student; the bot's log:\n{bot.tail(40)}")
        t0 = min(api.handed_out_at[uid] for uid in ids.values())
        t_end = max(arrivals.at.values())
        drain = t_end - t0
        sends = [c for c in api.calls if c.is_send]
        result.details = {
            "sizes": sizes.__dict__,
            "replies": sizes.replies,
            "delivered": len(arrivals.at),
            "missing": len(missing),
            "drain_s": round(drain, 3),
            "floor_s": round(floor, 3),
            "sends_per_s": round(len(arrivals.at) / drain, 2),
            "too_many_requests": api.too_many_requests,
            "send_calls": len(sends),
            "other_sends": len(sends) - len(arrivals.at),
            "cpu_share_of_a_core": cpu.utilisation(),
            "updates_failed": bot.log_lines("update_failed"),
        }
    target_s = floor * SLACK
    result.add(
        Figure(
            f"drain {sizes.replies} replies",
            drain,
            "s",
            floor,
            "floor (30/s)",
            f"≤ {target_s:.1f} s",
            met=drain <= target_s and not missing,
        ),
        Figure(
            "429 answers", api.too_many_requests, "", target="0", met=api.too_many_requests == 0
        ),
    )
    return result
