"""Plain values shared by services, handlers and tests (no I/O here)."""

from __future__ import annotations

from enum import StrEnum


class Language(StrEnum):
    KY = "ky"
    KK = "kk"
    RU = "ru"


class Country(StrEnum):
    KG = "KG"  # Kyrgyzstan
    KZ = "KZ"  # Kazakhstan


class Role(StrEnum):
    SUPERVISOR = "supervisor"
    PSYCHOLOGIST = "psychologist"
    STAFF = "staff"


class Priority(StrEnum):
    URGENT = "urgent"
    HIGH = "high"
    NORMAL = "normal"


PRIORITY_RANK = {Priority.URGENT: 0, Priority.HIGH: 1, Priority.NORMAL: 2}


class Category(StrEnum):
    SUICIDE_SELF_HARM = "suicide_self_harm"
    VIOLENCE = "violence"
    SEXUAL_ABUSE = "sexual_abuse"
    HOME_ABUSE = "home_abuse"
    BULLYING = "bullying"
    ONLINE_EXTORTION = "online_extortion"
    SUBSTANCES = "substances"
    DISTRESS = "distress"
    OTHER = "other"


class CaseStatus(StrEnum):
    OPEN = "open"  # waiting in its pool's queue
    CLAIMED = "claimed"  # a psychologist has it
    CLOSED = "closed"


class Outcome(StrEnum):
    RESOLVED = "resolved"
    REFERRED_111 = "referred_111"
    REFERRED_POLICE = "referred_police"
    REFERRED_MEDICAL = "referred_medical"
    NO_ANSWER = "no_answer"
    NOT_A_CASE = "not_a_case"


class Author(StrEnum):
    STUDENT = "student"
    PSYCHOLOGIST = "psychologist"
    NOTE = "note"  # internal, never sent to the student
    SYSTEM = "system"


class ContentKind(StrEnum):
    TEXT = "text"
    PHOTO = "photo"
    VOICE = "voice"
    VIDEO = "video"
    VIDEO_NOTE = "video_note"
    AUDIO = "audio"
    DOCUMENT = "document"
    STICKER = "sticker"
    ANIMATION = "animation"


# Emergency numbers by country; 111 is the children's trust line in both.
EMERGENCY_NUMBERS: dict[Country, tuple[str, ...]] = {
    Country.KZ: ("111", "150", "112"),
    Country.KG: ("111", "112"),
}
