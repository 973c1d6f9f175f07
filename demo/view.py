"""What each phone on the page shows, read from the stand-in: the chat's messages exactly as
the bot's calls left them, and the short notices that pressing a button brings up."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.domain import Country
from bot.services.organisation import org
from demo.world import ORG_CSV, DemoWorld, Phone

JSON = dict[str, Any]
# One clock for the whole demo: the server's, in the demo region's time zone, the one the
# organisation import gives the region and case transcripts use (never the browser's).
REGION_ZONE = ZoneInfo(org.TIMEZONES[Country(org.parse_csv(ORG_CSV)[0].country)])
# Message fields that carry a file, and how the page labels ones it cannot show inline.
MEDIA_KINDS = (
    "photo",
    "document",
    "voice",
    "video",
    "audio",
    "animation",
    "video_note",
    "sticker",
)
QUOTE_CHARS = 90


def file_url(file_id: str) -> str:
    return f"/files/{file_id}"


def _media(message: JSON) -> JSON | None:
    for kind in MEDIA_KINDS:
        value = message.get(kind)
        if not value:
            continue
        item = value[-1] if isinstance(value, list) else value  # photos: the largest size
        return {
            "kind": kind,
            "url": file_url(str(item["file_id"])),
            "name": item.get("file_name"),
            "size": item.get("file_size"),
        }
    return None


def _buttons(message: JSON) -> list[list[JSON]]:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
    return [
        [
            {
                "text": str(button.get("text", "")),
                "data": button.get("callback_data"),
                "url": button.get("url"),
            }
            for button in row
        ]
        for row in rows
    ]


def _quote(message: JSON) -> JSON:
    text = message.get("text") or message.get("caption") or ""
    if len(text) > QUOTE_CHARS:
        text = text[: QUOTE_CHARS - 1] + "…"
    media = _media(message)
    return {
        "id": message.get("message_id"),
        "text": text,
        "kind": media["kind"] if media else None,
    }


def clock(date: Any, zone: ZoneInfo = REGION_ZONE) -> str:
    """A message's Telegram date (Unix seconds) as the region's wall clock shows it."""
    if not isinstance(date, int) or isinstance(date, bool):
        return ""
    return datetime.fromtimestamp(date, zone).strftime("%H:%M")


def message_view(phone: Phone, message: JSON) -> JSON:
    sender = message.get("from") or {}
    out = sender.get("id") == phone.user_id
    text = message.get("text") or message.get("caption") or ""
    if out and text.startswith("/start "):
        text = "/start"  # as Telegram shows a deep link's start: without its parameter
    view: JSON = {
        "id": message["message_id"],
        "out": out,
        "date": message.get("date"),
        "time": clock(message.get("date")),
        "edited": "edit_date" in message,
        "text": text,
        "media": _media(message),
        # Telegram draws a caption under its file unless the sender asked for it above.
        "caption_above": bool(message.get("show_caption_above_media")),
        "buttons": _buttons(message),
        "reply_to": None,
    }
    if isinstance(message.get("reply_to_message"), dict):
        view["reply_to"] = _quote(message["reply_to_message"])
    return view


def phone_view(world: DemoWorld, role: str) -> JSON:
    phone = world.phones[role]
    return {
        "language": phone.language_code,
        "messages": [message_view(phone, m) for m in world.api.chat_messages(phone.user_id)],
    }


def notices(world: DemoWorld) -> list[JSON]:
    """What the bot said in answer to a pressed button (Telegram shows it over the chat),
    numbered so the page shows each one once."""
    found = []
    for number, call in enumerate(world.api.calls):
        if call.method.lower() != "answercallbackquery" or not call.ok:
            continue
        text = call.params.get("text")
        role = world.presses.get(str(call.params.get("callback_query_id")))
        if role and isinstance(text, str) and text:
            found.append(
                {
                    "n": number,
                    "phone": role,
                    "text": text,
                    "alert": bool(call.params.get("show_alert")),
                }
            )
    return found
