"""Updates as Telegram sends them, built for a test user and pushed to the bot."""

from __future__ import annotations

import functools
import io
from collections.abc import Iterator
from typing import Any

from PIL import Image

from .objects import JSON, FileRegistry, MessageStore, TgUser, media_object, unix_now

DEFAULT_GROUP_ID = -1001000000001


@functools.cache
def sample_photo() -> bytes:
    """A small real JPEG: what a photo's file is on Telegram (it re-encodes every photo)."""
    out = io.BytesIO()
    Image.new("RGB", (16, 12), (200, 120, 40)).save(out, "JPEG", quality=80)
    return out.getvalue()


class UpdateBuilders:
    """Mixin for FakeBotAPI: every builder pushes its update and returns it."""

    _store: MessageStore
    _files: FileRegistry
    _callback_ids: Iterator[int]

    def push_update(self, update: JSON) -> JSON:
        raise NotImplementedError

    def _bot_user(self) -> JSON:
        raise NotImplementedError

    def _chat(self, user: TgUser, chat: JSON | int | None) -> JSON:
        if chat is None:
            chat = user.as_chat()
        elif isinstance(chat, int):
            return self._store.chat(chat)
        self._store.remember_chat(chat)
        return chat

    def _original(self, chat_id: int, message: JSON | int) -> JSON:
        if isinstance(message, dict):
            return message
        original = self._store.get(chat_id, message)
        if original is None:
            raise AssertionError(f"no message {message} in chat {chat_id} (deleted or never sent)")
        return original

    def _media(
        self, kind: str, data: bytes | None, file_name: str | None = None, mime: str | None = None
    ) -> Any:
        if data is None:
            data = sample_photo() if kind == "photo" else f"fake {kind} bytes".encode()
        stored = self._files.add(
            self._files.new_id(kind),
            data,
            kind=kind,
            file_name=file_name,
        )
        return media_object(kind, stored, mime)

    def user_message(
        self,
        user: TgUser,
        *,
        chat: JSON | int | None = None,
        reply_to: JSON | int | None = None,
        **fields: Any,
    ) -> JSON:
        """A message from `user` (in their private chat unless `chat` is given) carrying
        `fields` (text, photo, forward_origin...) as Telegram names them."""
        chat_obj = self._chat(user, chat)
        message: JSON = {
            "message_id": self._store.next_id(chat_obj["id"]),
            "date": unix_now(),
            "chat": chat_obj,
            "from": user.as_user(),
            **fields,
        }
        if reply_to is not None:
            original = self._original(chat_obj["id"], reply_to)
            message["reply_to_message"] = MessageStore.quoted(original)
        return self.push_update({"message": message})

    def text_message(
        self,
        user: TgUser,
        text: str,
        chat: JSON | int | None = None,
        reply_to: JSON | int | None = None,
        entities: list[JSON] | None = None,
        **fields: Any,
    ) -> JSON:
        if entities is not None:
            fields["entities"] = entities
        return self.user_message(user, chat=chat, reply_to=reply_to, text=text, **fields)

    def start(self, user: TgUser, payload: str | None = None, **fields: Any) -> JSON:
        """`/start` or `/start <payload>`, as a deep link (t.me/bot?start=payload) sends it."""
        text = "/start" if payload is None else f"/start {payload}"
        command = [{"type": "bot_command", "offset": 0, "length": 6}]
        return self.text_message(user, text, entities=command, **fields)

    def reply_to(self, user: TgUser, message_id: int, text: str, **fields: Any) -> JSON:
        """`user` answers with Telegram's *reply* to message `message_id` of their chat."""
        return self.text_message(user, text, reply_to=message_id, **fields)

    def group_message(
        self, user: TgUser, text: str, chat_id: int = DEFAULT_GROUP_ID, title: str = "Test group"
    ) -> JSON:
        chat = {"id": chat_id, "type": "supergroup", "title": title}
        return self.text_message(user, text, chat=chat)

    def photo_message(
        self, user: TgUser, caption: str | None = None, data: bytes | None = None, **fields: Any
    ) -> JSON:
        if caption is not None:
            fields["caption"] = caption
        return self.user_message(user, photo=self._media("photo", data), **fields)

    def voice_message(self, user: TgUser, data: bytes | None = None, **fields: Any) -> JSON:
        return self.user_message(user, voice=self._media("voice", data), **fields)

    def video_message(
        self, user: TgUser, caption: str | None = None, data: bytes | None = None, **fields: Any
    ) -> JSON:
        if caption is not None:
            fields["caption"] = caption
        return self.user_message(user, video=self._media("video", data), **fields)

    def document_message(
        self,
        user: TgUser,
        data: bytes | None = None,
        file_name: str = "document.pdf",
        mime_type: str = "application/pdf",
        caption: str | None = None,
        **fields: Any,
    ) -> JSON:
        if caption is not None:
            fields["caption"] = caption
        document = self._media("document", data, file_name, mime_type)
        return self.user_message(user, document=document, **fields)

    def sticker_message(self, user: TgUser, **fields: Any) -> JSON:
        return self.user_message(user, sticker=self._media("sticker", None), **fields)

    def edited_message(
        self,
        user: TgUser,
        text: str,
        message_id: int | None = None,
        chat: JSON | int | None = None,
    ) -> JSON:
        """`user` edits their message `message_id` (default: their latest text message)."""
        chat_obj = self._chat(user, chat)
        if message_id is None:
            original = self._store.find(
                chat_obj["id"],
                lambda m: "text" in m and m.get("from", {}).get("id") == user.id,
            )
        else:
            original = self._store.get(chat_obj["id"], message_id)
        if original is None:
            original = {
                "message_id": message_id or self._store.next_id(chat_obj["id"]),
                "date": unix_now(),
                "chat": chat_obj,
                "from": user.as_user(),
            }
        edited = {key: value for key, value in original.items() if key != "entities"}
        edited.update(text=text, edit_date=unix_now())
        return self.push_update({"edited_message": edited})

    def callback_query(self, user: TgUser, data: str, message: JSON | int | None = None) -> JSON:
        """`user` presses a button with callback `data` on `message` (a bot message dict or
        id in their chat; default: the newest bot message in their chat offering `data`,
        else a new bot message with that one button)."""
        chat_id = user.id
        if message is None:
            found = self._store.find(chat_id, lambda m: _offers(m, data))
            message = found or self._bot_message_with_button(user, data)
        elif isinstance(message, dict):
            self._store.add(message)
        else:
            message = self._original(chat_id, message)
        query = {
            "id": str(next(self._callback_ids)),
            "from": user.as_user(),
            "chat_instance": f"ci{chat_id}",
            "data": data,
            "message": message,
        }
        return self.push_update({"callback_query": query})

    def _bot_message_with_button(self, user: TgUser, data: str) -> JSON:
        chat = self._chat(user, None)
        message = {
            "message_id": self._store.next_id(chat["id"]),
            "date": unix_now(),
            "chat": chat,
            "from": self._bot_user(),
            "text": "…",
            "reply_markup": {"inline_keyboard": [[{"text": data, "callback_data": data}]]},
        }
        self._store.add(message)
        return message


def _offers(message: JSON, data: str) -> bool:
    if not message.get("from", {}).get("is_bot"):
        return False
    rows = message.get("reply_markup", {}).get("inline_keyboard", [])
    return any(button.get("callback_data") == data for row in rows for button in row)
