"""What a message carries, as the services take it (students' and psychologists' alike)."""

from __future__ import annotations

from aiogram.types import Message

from bot.domain import ContentKind
from bot.services.casework.cases import IncomingContent


def parse_content(message: Message) -> IncomingContent | None:
    """What was sent, or None for what we cannot keep (location, contact, poll)."""
    text = message.text or message.caption or ""
    kinds: list[tuple[ContentKind, str | None]] = [
        (ContentKind.PHOTO, message.photo[-1].file_id if message.photo else None),
        (ContentKind.VOICE, message.voice.file_id if message.voice else None),
        (ContentKind.VIDEO, message.video.file_id if message.video else None),
        (ContentKind.VIDEO_NOTE, message.video_note.file_id if message.video_note else None),
        (ContentKind.AUDIO, message.audio.file_id if message.audio else None),
        (ContentKind.ANIMATION, message.animation.file_id if message.animation else None),
        (ContentKind.DOCUMENT, message.document.file_id if message.document else None),
        (ContentKind.STICKER, message.sticker.file_id if message.sticker else None),
    ]
    for kind, file_id in kinds:
        if file_id:
            return IncomingContent(kind, text, file_id, message.message_id)
    if message.text:
        return IncomingContent(ContentKind.TEXT, message.text, None, message.message_id)
    return None
