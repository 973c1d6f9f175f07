"""Translatable names of enum values (marked with N_ so Babel extracts them)."""

from __future__ import annotations

from bot.domain import Category, ContentKind, Outcome, Priority


def N_(text: str) -> str:  # noqa: N802 — the gettext convention for "mark, translate later"
    return text


PRIORITY_LABELS: dict[str, str] = {
    Priority.URGENT: N_("urgent"),
    Priority.HIGH: N_("high"),
    Priority.NORMAL: N_("normal"),
}

CATEGORY_LABELS: dict[str, str] = {
    Category.SUICIDE_SELF_HARM: N_("suicide or self-harm"),
    Category.VIOLENCE: N_("violence"),
    Category.SEXUAL_ABUSE: N_("sexual abuse"),
    Category.HOME_ABUSE: N_("abuse at home"),
    Category.BULLYING: N_("bullying"),
    Category.ONLINE_EXTORTION: N_("online bullying or extortion"),
    Category.SUBSTANCES: N_("alcohol or drugs"),
    Category.DISTRESS: N_("distress"),
    Category.OTHER: N_("other"),
}

OUTCOME_LABELS: dict[str, str] = {
    Outcome.RESOLVED: N_("resolved"),
    Outcome.REFERRED_111: N_("referred to 111"),
    Outcome.REFERRED_POLICE: N_("referred to police or juvenile inspector"),
    Outcome.REFERRED_MEDICAL: N_("referred to medical help"),
    Outcome.NO_ANSWER: N_("student stopped answering"),
    Outcome.NOT_A_CASE: N_("no request for help (test or joke)"),
}

PRIORITY_ICONS = {Priority.URGENT: "🔴", Priority.HIGH: "🟠", Priority.NORMAL: "🟢"}

CONTENT_LABELS: dict[str, str] = {
    ContentKind.TEXT: N_("text"),
    ContentKind.PHOTO: N_("photo"),
    ContentKind.VOICE: N_("voice message"),
    ContentKind.VIDEO: N_("video"),
    ContentKind.VIDEO_NOTE: N_("video message"),
    ContentKind.AUDIO: N_("audio"),
    ContentKind.DOCUMENT: N_("file"),
    ContentKind.STICKER: N_("sticker"),
    ContentKind.ANIMATION: N_("GIF"),
}
