"""aiogram routers, one module per role or flow; the student's catch-all comes last."""

from __future__ import annotations

from aiogram import Router


def _detached(router: Router) -> Router:
    """Module-level routers attach to one dispatcher; tests and the demo build several
    dispatchers in one process, so a router is taken off its previous one first."""
    parent = router.parent_router
    if parent is not None:
        parent.sub_routers.remove(router)
        router._parent_router = None
    return router


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
    )

    # Invite links and members' help first (a link must work whoever opens it), then each
    # role's router, then the members' fallback, so no member ever reaches the student flow.
    routers = [
        common.router,
        onboarding.router,
        members.router,
        supervisor_stats.router,
        moderation.router,
        psychologist.router,
        staff.router,
        onboarding.fallback,
        student.router,
    ]
    return [_detached(r) for r in routers]
