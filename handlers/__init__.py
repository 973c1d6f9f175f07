"""aiogram routers, one module per role or flow; the student's catch-all comes last."""

from __future__ import annotations

from aiogram import Router

from bot.aiogram_adapter import detach_router


def setup_routers() -> list[Router]:
    from handlers import (
        common,
        members,
        moderation,
        onboarding,
        psychologist,
        staff,
        student,
        supervisor_stats,
        templates,
    )

    # Invite links and members' help first (a link must work whoever opens it), then each
    # role's router, then the members' fallback, so no member ever reaches the student flow.
    routers = [
        common.router,
        onboarding.router,
        templates.router,
        members.router,
        supervisor_stats.router,
        moderation.router,
        psychologist.router,
        staff.router,
        onboarding.fallback,
        student.router,
    ]
    # Module-level routers attach to one dispatcher; tests and the demo build several
    # dispatchers in one process, so a router is taken off its previous one first.
    return [detach_router(r) for r in routers]
