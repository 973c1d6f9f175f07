"""Telegram objects as the Bot API serialises them, and the state they live in.

Everything here is plain JSON-shaped dicts, so that what the fake server hands to aiogram goes
through aiogram's own parsing exactly as a real response would.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

JSON = dict[str, Any]

# Message fields that carry content (copied by copyMessage/forwardMessage); everything else
# (ids, dates, sender, replies, markup) belongs to the message, not to what it says.
CONTENT_KEYS = frozenset(
    {
        "text", "entities", "caption", "caption_entities", "photo", "document", "voice",
        "video", "sticker", "audio", "animation", "video_note", "contact", "location",
        "venue", "poll", "dice", "has_media_spoiler", "show_caption_above_media",
    }
)  # fmt: skip

# Methods that create messages in a chat: counted as deliveries and rate-limited.
SEND_METHODS = frozenset(
    {
        "sendmessage", "copymessage", "forwardmessage", "sendphoto", "senddocument",
        "sendvoice", "sendvideo", "sendsticker", "sendaudio", "sendanimation",
        "sendvideonote", "sendmediagroup", "sendlocation", "sendcontact", "senddice",
    }
)  # fmt: skip


def unix_now() -> int:
    return int(time.time())


@dataclass(frozen=True, slots=True)
class TgUser:
    """A Telegram user; their private chat with the bot has the same id."""

    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None

    def as_user(self) -> JSON:
        user: JSON = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        for key in ("last_name", "username", "language_code"):
            if (value := getattr(self, key)) is not None:
                user[key] = value
        return user

    def as_chat(self) -> JSON:
        chat: JSON = {"id": self.id, "type": "private", "first_name": self.first_name}
        for key in ("last_name", "username"):
            if (value := getattr(self, key)) is not None:
                chat[key] = value
        return chat


@dataclass(slots=True)
class Call:
    """One request the bot made. `params` are decoded: numbers, booleans and JSON objects as
    Python values, uploaded files as {"filename", "size", "data"}."""

    method: str
    params: dict[str, Any]
    at: float
    status: int = 200
    token: str = ""
    result: Any = None
    # The message as it now stands in the chat (sends, copies, forwards, edits).
    message: JSON | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def is_send(self) -> bool:
        return self.method.lower() in SEND_METHODS

    @property
    def chat_id(self) -> Any:
        return self.params.get("chat_id")

    @property
    def text(self) -> str | None:
        """Text or caption the chat sees (for copies: the copied text)."""
        source = self.message if self.message is not None else self.params
        value = source.get("text", source.get("caption"))
        return value if isinstance(value, str) else None

    def describe(self, width: int = 70) -> str:
        shown = []
        for key, value in self.params.items():
            if isinstance(value, dict) and "data" in value:
                value = f"<file {value.get('filename')!r} {value.get('size')} B>"
            text = repr(value)
            shown.append(f"{key}={text[:width] + '…' if len(text) > width else text}")
        return f"{self.method} [{self.status}] " + " ".join(shown)


@dataclass(slots=True)
class StoredFile:
    file_id: str
    file_unique_id: str
    file_path: str
    data: bytes
    file_name: str | None = None


_KIND_DIRS = {
    "photo": "photos",
    "voice": "voice",
    "video": "videos",
    "sticker": "stickers",
    "audio": "music",
    "animation": "animations",
    "video_note": "video_notes",
}


@dataclass
class FileRegistry:
    """Files the fake knows by file_id (registered by tests, builders or uploads)."""

    by_id: dict[str, StoredFile] = field(default_factory=dict)
    by_path: dict[str, StoredFile] = field(default_factory=dict)
    counter: int = 0

    def new_id(self, kind: str) -> str:
        self.counter += 1
        return f"{kind}-{self.counter:06d}"

    def add(
        self, file_id: str, data: bytes, *, kind: str = "document", file_name: str | None = None
    ) -> StoredFile:
        self.counter += 1
        suffix = PurePosixPath(file_name).suffix if file_name else ""
        path = f"{_KIND_DIRS.get(kind, 'documents')}/file_{self.counter}{suffix}"
        unique = f"u{self.counter:06d}"
        stored = StoredFile(file_id, unique, path, bytes(data), file_name)
        self.by_id[file_id] = stored
        self.by_path[path] = stored
        return stored


def media_object(kind: str, stored: StoredFile, mime_type: str | None = None) -> Any:
    """The object a message carries for a file of `kind` (photo: a list of sizes)."""
    base: JSON = {
        "file_id": stored.file_id,
        "file_unique_id": stored.file_unique_id,
        "file_size": len(stored.data),
    }
    if kind == "photo":
        return [{**base, "width": 1280, "height": 960}]
    if kind == "document":
        return {
            **base,
            "file_name": stored.file_name or "document",
            "mime_type": mime_type or "application/octet-stream",
        }
    if kind == "voice":
        return {**base, "duration": 3, "mime_type": "audio/ogg"}
    if kind == "video":
        return {**base, "width": 640, "height": 360, "duration": 5, "mime_type": "video/mp4"}
    if kind == "sticker":
        return {
            **base,
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": "🙂",
        }
    if kind == "audio":
        return {**base, "duration": 30, "mime_type": "audio/mpeg"}
    if kind == "animation":
        return {**base, "width": 320, "height": 240, "duration": 2}
    if kind == "video_note":
        return {**base, "length": 240, "duration": 4}
    raise ValueError(f"unknown media kind {kind!r}")


def chat_for(chat_id: int) -> JSON:
    """A plausible chat for an id nobody introduced: users are positive, groups negative."""
    if chat_id > 0:
        return {"id": chat_id, "type": "private", "first_name": f"User {chat_id}"}
    kind = "supergroup" if str(chat_id).startswith("-100") else "group"
    return {"id": chat_id, "type": kind, "title": f"Chat {chat_id}"}


class MessageStore:
    """Every message in every chat, by (chat id, message id); message ids count per chat and
    are shared by both sides of the chat, as in Telegram."""

    def __init__(self) -> None:
        self._messages: dict[tuple[int, int], JSON] = {}
        self._last_id: dict[int, int] = {}
        self._chats: dict[int, JSON] = {}

    def chat(self, chat_id: int) -> JSON:
        chat = self._chats.get(chat_id)
        if chat is None:
            chat = self._chats[chat_id] = chat_for(chat_id)
        return chat

    def remember_chat(self, chat: JSON) -> None:
        self._chats[chat["id"]] = chat

    def next_id(self, chat_id: int) -> int:
        message_id = self._last_id.get(chat_id, 0) + 1
        self._last_id[chat_id] = message_id
        return message_id

    def add(self, message: JSON) -> None:
        chat_id, message_id = message["chat"]["id"], message["message_id"]
        self._chats.setdefault(chat_id, message["chat"])
        if message_id > self._last_id.get(chat_id, 0):
            self._last_id[chat_id] = message_id
        self._messages[chat_id, message_id] = message

    def get(self, chat_id: int, message_id: int) -> JSON | None:
        return self._messages.get((chat_id, message_id))

    def in_chat(self, chat_id: int) -> list[JSON]:
        """Every message of the chat that still exists, oldest first."""
        last = self._last_id.get(chat_id, 0)
        found = (self._messages.get((chat_id, i)) for i in range(1, last + 1))
        return [message for message in found if message is not None]

    def pop(self, chat_id: int, message_id: int) -> JSON | None:
        return self._messages.pop((chat_id, message_id), None)

    def find(self, chat_id: int, predicate: Callable[[JSON], bool]) -> JSON | None:
        """The newest message in the chat that satisfies `predicate`."""
        for message_id in range(self._last_id.get(chat_id, 0), 0, -1):
            message = self._messages.get((chat_id, message_id))
            if message is not None and predicate(message):
                return message
        return None

    def last(self, chat_id: int, *, from_bot: bool | None = None) -> JSON | None:
        if from_bot is None:
            return self.find(chat_id, lambda message: True)
        return self.find(
            chat_id, lambda message: message.get("from", {}).get("is_bot", False) == from_bot
        )

    @staticmethod
    def quoted(message: JSON) -> JSON:
        """The message as Telegram nests it in reply_to_message (one level only)."""
        return {key: value for key, value in message.items() if key != "reply_to_message"}
