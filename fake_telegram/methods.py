"""The Bot API methods the fake implements, with Telegram's own checks and error texts."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any

from .objects import CONTENT_KEYS, JSON, FileRegistry, MessageStore, media_object, unix_now

MEDIA_METHODS = {
    "sendphoto": "photo", "senddocument": "document", "sendvoice": "voice",
    "sendvideo": "video", "sendsticker": "sticker", "sendaudio": "audio",
    "sendanimation": "animation", "sendvideonote": "video_note",
}  # fmt: skip
_TRUE_METHODS = (
    "sendchataction", "answercallbackquery",
    "setmydescription", "setmyshortdescription", "setchatmenubutton", "close", "logout",
)  # fmt: skip
# Telegram's size limits for bots (https://core.telegram.org/bots/api#sending-files).
PHOTO_UPLOAD_LIMIT = 10 * 1024 * 1024  # sendPhoto: "at most 10 MB"
UPLOAD_LIMIT = 50 * 1024 * 1024  # any other file sent by upload
DOWNLOAD_LIMIT = 20 * 1024 * 1024  # getFile: "files of up to 20MB in size"
DELETE_WITHIN_SECONDS = 48 * 3600  # deleteMessage: "sent less than 48 hours ago"
# Telegram's length limits, in UTF-16 code units (an emoji outside the BMP counts 2), measured
# on the text as shown, after entity parsing (https://core.telegram.org/bots/api#sendmessage).
TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024  # 4096 for Premium users' own messages, never for a bot
TOO_LONG = "Bad Request: message is too long"
CAPTION_TOO_LONG = "Bad Request: message caption is too long"
EMPTY_TEXT = "Bad Request: message text is empty"
_TAG = re.compile(r"<[^>]+>")
_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)

# A method returns its result and the messages it created or changed.
Outcome = tuple[Any, list[JSON]]
Method = Callable[[JSON, dict[str, Any]], Outcome]


class ApiError(Exception):
    def __init__(self, status: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after

    def body(self) -> JSON:
        body: JSON = {"ok": False, "error_code": self.status, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def visible_text(text: str, parse_mode: str | None) -> str:
    """The text as the chat shows it (markup removed), which is what Telegram echoes and
    measures against its limits."""
    if parse_mode and parse_mode.lower() == "html":
        return html.unescape(_TAG.sub("", text))
    return text


def utf16_len(text: str) -> int:
    """A length as Telegram counts it: UTF-16 code units."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def checked_text(raw: Any, parse_mode: Any) -> str:
    """The text of sendMessage/editMessageText as Telegram checks it: empty or blank after
    entity parsing is refused, and so is anything over 4096 UTF-16 code units."""
    text = visible_text(str(raw), parse_mode) if raw is not None else ""
    if not text.strip():
        raise ApiError(400, EMPTY_TEXT)
    if utf16_len(text) > TEXT_LIMIT:
        raise ApiError(400, TOO_LONG)
    return text


def _check_markup(markup: Any) -> JSON | None:
    """Only inline keyboards are echoed on a Message; check callback_data as Telegram does."""
    if not isinstance(markup, dict) or "inline_keyboard" not in markup:
        return None
    for row in markup["inline_keyboard"]:
        for button in row:
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= 64:
                raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
    return markup


MAX_COMMANDS = 100
DESCRIPTION_LIMIT = 256
_COMMAND = re.compile(r"[a-z0-9_]{1,32}")
_SCOPES_WITHOUT_CHAT = frozenset(
    {"default", "all_private_chats", "all_group_chats", "all_chat_administrators"}
)
_SCOPES_WITH_CHAT = frozenset({"chat", "chat_administrators", "chat_member"})


def _commands_key(params: dict[str, Any]) -> tuple[tuple[tuple[str, Any], ...], str]:
    """The scope and language of set/get/deleteMyCommands, checked as Telegram does."""
    scope = params.get("scope") or {"type": "default"}
    if not isinstance(scope, dict):
        raise ApiError(400, "Bad Request: can't parse BotCommandScope JSON object")
    kind = scope.get("type")
    if kind in _SCOPES_WITHOUT_CHAT:
        key: JSON = {} if kind == "default" else {"type": kind}
    elif kind in _SCOPES_WITH_CHAT:
        key = {"type": kind, "chat_id": _chat_id(scope)}
        if kind == "chat_member":
            key["user_id"] = _chat_id(scope, "user_id")
    else:
        raise ApiError(400, "Bad Request: wrong BotCommandScope type specified")
    language = params.get("language_code") or ""
    if not isinstance(language, str) or not re.fullmatch(r"([a-z]{2})?", language):
        raise ApiError(400, "Bad Request: invalid language code specified")
    return tuple(sorted(key.items())), language


def _chat_id(params: dict[str, Any], key: str = "chat_id") -> int:
    chat_id = params.get(key)
    if isinstance(chat_id, bool) or not isinstance(chat_id, int):
        raise ApiError(400, "Bad Request: chat not found")
    return chat_id


class BotMethods:
    """Implementations keyed by lower-case method name (Telegram ignores the case)."""

    def __init__(self, store: MessageStore, files: FileRegistry) -> None:
        self.store = store
        self.files = files
        # setMyCommands lists by (scope as sorted items, language_code): getMyCommands reads
        # back exactly what was set for a scope and language, as Telegram does.
        self.commands: dict[tuple[tuple[tuple[str, Any], ...], str], list[JSON]] = {}
        self.table: dict[str, Method] = {
            "getme": self.get_me,
            "sendmessage": self.send_message,
            "copymessage": self.copy_message,
            "forwardmessage": self.forward_message,
            "sendmediagroup": self.send_media_group,
            "editmessagetext": self.edit_message_text,
            "editmessagecaption": self.edit_message_caption,
            "editmessagereplymarkup": self.edit_message_reply_markup,
            "deletemessage": self.delete_message,
            "getfile": self.get_file,
            "setmycommands": self.set_my_commands,
            "deletemycommands": self.delete_my_commands,
            "getmycommands": self.get_my_commands,
        }
        for name in _TRUE_METHODS:
            self.table.setdefault(name, lambda bot, params: (True, []))
        for name, kind in MEDIA_METHODS.items():
            self.table[name] = self._media_sender(kind)

    # -- sending ---------------------------------------------------------------------------

    def _new_message(self, bot: JSON, params: dict[str, Any], content: JSON) -> JSON:
        chat_id = _chat_id(params)
        message: JSON = {
            "message_id": self.store.next_id(chat_id),
            "date": unix_now(),
            "chat": self.store.chat(chat_id),
            "from": bot,
            **content,
        }
        if (markup := _check_markup(params.get("reply_markup"))) is not None:
            message["reply_markup"] = markup
        reply = params.get("reply_parameters")
        if isinstance(reply, dict):
            reply_chat, reply_id = reply.get("chat_id", chat_id), reply.get("message_id")
        else:
            reply_chat, reply_id = chat_id, params.get("reply_to_message_id")
        if isinstance(reply_id, int) and isinstance(reply_chat, int):
            if (original := self.store.get(reply_chat, reply_id)) is not None:
                message["reply_to_message"] = self.store.quoted(original)
        self.store.add(message)
        return message

    def get_me(self, bot: JSON, params: dict[str, Any]) -> Outcome:
        me = {**bot, "can_join_groups": True, "can_read_all_group_messages": False,
              "supports_inline_queries": False}  # fmt: skip
        return me, []

    def send_message(self, bot: JSON, params: dict[str, Any]) -> Outcome:
        text = checked_text(params.get("text"), params.get("parse_mode"))
        content: JSON = {"text": text}
        if isinstance(params.get("entities"), list):
            content["entities"] = params["entities"]
        message = self._new_message(bot, params, content)
        return message, [message]

    def _caption(self, params: dict[str, Any]) -> JSON:
        raw = params.get("caption")
        if raw is None:
            return {}
        caption = visible_text(str(raw), params.get("parse_mode"))
        if utf16_len(caption) > CAPTION_LIMIT:
            raise ApiError(400, CAPTION_TOO_LONG)
        content: JSON = {"caption": caption} if caption else {}
        if caption and isinstance(params.get("caption_entities"), list):
            content["caption_entities"] = params["caption_entities"]
        if caption and params.get("show_caption_above_media") is True:
            content["show_caption_above_media"] = True  # drawn above the file, not under it
        return content

    def _media(self, kind: str, value: Any, mime_type: str | None = None) -> Any:
        if isinstance(value, dict) and "data" in value:  # an upload: it gets a new file_id
            if len(value["data"]) > UPLOAD_LIMIT:
                raise ApiError(413, "Request Entity Too Large")
            if kind == "photo" and len(value["data"]) > PHOTO_UPLOAD_LIMIT:
                raise ApiError(400, "Bad Request: PHOTO_SAVE_FILE_INVALID")
            file_id = self.files.new_id(kind)
            stored = self.files.add(file_id, value["data"], kind=kind,
                                    file_name=value.get("filename"))  # fmt: skip
        elif isinstance(value, str) and value:
            stored = self.files.by_id.get(value) or self.files.add(value, b"", kind=kind)
        else:
            raise ApiError(400, f"Bad Request: there is no {kind} in the request")
        return media_object(kind, stored, mime_type)

    def _media_sender(self, kind: str) -> Method:
        def send(bot: JSON, params: dict[str, Any]) -> Outcome:
            content = {kind: self._media(kind, params.get(kind))}
            if kind != "sticker":
                content.update(self._caption(params))
            message = self._new_message(bot, params, content)
            return message, [message]

        return send

    def send_media_group(self, bot: JSON, params: dict[str, Any]) -> Outcome:
        media = params.get("media")
        if not isinstance(media, list) or not 2 <= len(media) <= 10:
            raise ApiError(400, "Bad Request: wrong number of media in the album")
        group_id = f"album{self.files.counter + 1}"
        messages = []
        for item in media:
            kind = item.get("type", "photo")
            content = {kind: self._media(kind, item.get("media")), **self._caption(item)}
            content["media_group_id"] = group_id
            messages.append(self._new_message(bot, params, content))
        return messages, messages

    def _source(self, params: dict[str, Any], what: str) -> JSON:
        source = self.store.get(_chat_id(params, "from_chat_id"), params.get("message_id", 0))
        if source is None:
            raise ApiError(400, f"Bad Request: message to {what} not found")
        return source

    def copy_message(self, bot: JSON, params: dict[str, Any]) -> Outcome:
        source = self._source(params, "copy")
        content = {key: value for key, value in source.items() if key in CONTENT_KEYS}
        if "caption" in params:  # a new caption, placed as this call says
            content.pop("caption", None)
            content.pop("caption_entities", None)
            content.pop("show_caption_above_media", None)
            content.update(self._caption(params))
        message = self._new_message(bot, params, content)
        return {"message_id": message["message_id"]}, [message]

    def forward_message(self, bot: JSON, params: dict[str, Any]) -> Outcome:
        source = self._source(params, "forward")
        content = {key: value for key, value in source.items() if key in CONTENT_KEYS}
        sender = source.get("from")
        if sender is not None:
            content["forward_origin"] = {"type": "user", "date": source["date"],
                                         "sender_user": sender}  # fmt: skip
        else:
            content["forward_origin"] = {"type": "chat", "date": source["date"],
                                         "sender_chat": source["chat"]}  # fmt: skip
        message = self._new_message(bot, params, content)
        return message, [message]

    # -- changing what was sent ------------------------------------------------------------

    def _target(self, params: dict[str, Any], what: str) -> JSON | None:
        if "inline_message_id" in params:
            return None
        message = self.store.get(_chat_id(params), params.get("message_id", 0))
        if message is None:
            raise ApiError(400, f"Bad Request: message to {what} not found")
        return message

    def _edit(self, message: JSON, changes: JSON, params: dict[str, Any]) -> Outcome:
        """Apply `changes` (a None value removes the field) as Telegram does: an edit that
        changes nothing is an error, and an edit without a keyboard removes the keyboard."""
        markup = _check_markup(params.get("reply_markup"))
        changes = {**changes, "reply_markup": markup}
        if all(message.get(key) == value for key, value in changes.items()):
            raise ApiError(400, _NOT_MODIFIED)
        for key, value in changes.items():
            if value is None:
                message.pop(key, None)
            else:
                message[key] = value
        message["edit_date"] = unix_now()
        return message, [message]

    def edit_message_text(self, bot: JSON, params: dict[str, Any]) -> Outcome:
        message = self._target(params, "edit")
        if message is None:
            return True, []
        if "text" not in message:
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
        text = checked_text(params.get("text"), params.get("parse_mode"))
        entities = params.get("entities")
        changes = {"text": text, "entities": entities if isinstance(entities, list) else None}
        return self._edit(message, changes, params)

    def edit_message_caption(self, bot: JSON, params: dict[str, Any]) -> Outcome:
        message = self._target(params, "edit")
        if message is None:
            return True, []
        changes: JSON = {"caption": None, "caption_entities": None, **self._caption(params)}
        return self._edit(message, changes, params)

    def edit_message_reply_markup(self, bot: JSON, params: dict[str, Any]) -> Outcome:
        message = self._target(params, "edit")
        if message is None:
            return True, []
        return self._edit(message, {}, params)

    def delete_message(self, bot: JSON, params: dict[str, Any]) -> Outcome:
        chat_id, message_id = _chat_id(params), params.get("message_id", 0)
        message = self.store.get(chat_id, message_id)
        if message is None:
            raise ApiError(400, "Bad Request: message to delete not found")
        # "A message can only be deleted if it was sent less than 48 hours ago."
        if unix_now() - int(message.get("date", 0)) >= DELETE_WITHIN_SECONDS:
            raise ApiError(400, "Bad Request: message can't be deleted")
        self.store.pop(chat_id, message_id)
        return True, []

    # -- files and settings ----------------------------------------------------------------

    def get_file(self, bot: JSON, params: dict[str, Any]) -> Outcome:
        stored = self.files.by_id.get(str(params.get("file_id", "")))
        if stored is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        if len(stored.data) > DOWNLOAD_LIMIT:
            raise ApiError(400, "Bad Request: file is too big")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.data),
            "file_path": stored.file_path,
        }, []

    def set_my_commands(self, bot: JSON, params: dict[str, Any]) -> Outcome:
        key = _commands_key(params)
        commands = params.get("commands")
        if not isinstance(commands, list) or len(commands) > MAX_COMMANDS:
            raise ApiError(400, "Bad Request: too many commands")
        listed: list[JSON] = []
        for item in commands:
            if not isinstance(item, dict):
                raise ApiError(400, "Bad Request: can't parse commands JSON object")
            command, description = item.get("command"), item.get("description")
            if not isinstance(command, str) or not _COMMAND.fullmatch(command):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if (
                not isinstance(description, str)
                or not description.strip()
                or len(description) > DESCRIPTION_LIMIT
            ):
                raise ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
            listed.append({"command": command, "description": description})
        if listed:
            self.commands[key] = listed
        else:  # an empty list deletes, as deleteMyCommands does
            self.commands.pop(key, None)
        return True, []

    def delete_my_commands(self, bot: JSON, params: dict[str, Any]) -> Outcome:
        self.commands.pop(_commands_key(params), None)
        return True, []

    def get_my_commands(self, bot: JSON, params: dict[str, Any]) -> Outcome:
        return list(self.commands.get(_commands_key(params), [])), []

    def menu_for(self, chat_id: int, language_code: str = "") -> list[str]:
        """The commands a private chat's menu shows, as Telegram picks them: the chat's own
        scope, then all private chats, then the default scope; in each the user's language,
        then no language."""
        for scope in ({"type": "chat", "chat_id": chat_id}, {"type": "all_private_chats"}, {}):
            for lang in (language_code, ""):
                listed = self.commands.get((tuple(sorted(scope.items())), lang))
                if listed:
                    return [item["command"] for item in listed]
        return []
