"""What the bot says, as data, and the one place it becomes outbox rows.

Services do not build Bot API parameters. They describe a message as a `Notice`: to whom
(a case's student, a member, or a bare chat), what (a `Text`: a msgid of the catalogues and
its arguments, or a ready `str` for what someone wrote), which buttons (`Button`: a label
msgid and a CallbackData object of bot/callbacks.py), and options (a file to relay, a header
for numbered parts, protect_content, parse mode). `send` turns notices into outbox rows:
it translates in the recipient's language, splits a long text into Telegram-sized parts
(bot/delivery/text_parts.py), builds the reply_markup, and queues the calls in order.

A `Phrase` is a ready `str` (a child's words, a case code, a school's name: never
translated), a `Text`, or `Joined` phrases. An argument of a `Text` may itself be a phrase,
translated in the same language ("Priority: {priority}" with priority=Text("urgent")).

No chat id is written in clear: a `Case`'s or a `Member`'s chat is opened only when sending,
and a bare `Chat` is sealed inside its row and queued by a keyed hash (bot/delivery/outbox.py).
Data and one function, no aiogram: a button's data is anything with `pack()`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Case, Member, OutboxMessage
from bot.delivery import outbox, text_parts
from bot.delivery.outbox import Chat as Chat  # re-exported: services name a bare chat here
from bot.domain import ContentKind
from bot.services.runtime import Runtime

Recipient = Case | Member | Chat


class Text:
    """A msgid of the catalogues and its arguments: `Text("Case {code}", code="#7KQ2-M9XD")`.

    `Text` marks the msgid for extraction (tools/i18n_extract.py), like `_` and `N_`.
    """

    __slots__ = ("msgid", "args")

    def __init__(self, msgid: str, /, **args: Arg) -> None:
        self.msgid = msgid
        self.args: Mapping[str, Arg] = args

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Text) and (self.msgid, dict(self.args)) == (
            other.msgid,
            dict(other.args),
        )

    def __hash__(self) -> int:
        return hash(self.msgid)

    def __repr__(self) -> str:
        return f"Text({self.msgid!r}, **{dict(self.args)!r})"


class Counted(Text):
    """A msgid with its English plural, the form picked by `count` in each language's own
    plural forms: `Counted("{days} day", "{days} days", days, days=days)`. Marked for
    extraction like `Text`."""

    __slots__ = ("plural", "count")

    def __init__(self, singular: str, plural: str, count: int, /, **args: Arg) -> None:
        super().__init__(singular, **args)
        self.plural = plural
        self.count = count

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Counted) and super().__eq__(other) and self.count == other.count

    def __hash__(self) -> int:
        return hash(self.msgid)

    def __repr__(self) -> str:
        return f"Counted({self.msgid!r}, {self.plural!r}, {self.count}, **{dict(self.args)!r})"


@dataclass(frozen=True, slots=True)
class Joined:
    """Phrases put together with `sep` (lines of a card, a headline over it)."""

    parts: tuple[Phrase, ...]
    sep: str = "\n"


Phrase = str | Text | Joined
Arg = str | int | Text | Joined


@dataclass(frozen=True, slots=True)
class Entries:
    """Lines sent as pages under a numbered header, whole lines per page (a case's history;
    bot/delivery/text_parts.pack)."""

    lines: tuple[Phrase, ...]


class Packable(Protocol):
    """A CallbackData object (bot/callbacks.py): what a button says back when pressed."""

    def pack(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Button:
    label: Phrase
    data: Packable


@dataclass(frozen=True, slots=True)
class Keyboard:
    """A reply keyboard under the input field (the student's 🆘 button)."""

    rows: tuple[tuple[Phrase, ...], ...]
    persistent: bool = True


# Bot API method and parameter that send a stored file id of each kind.
MEDIA_METHODS: dict[str, tuple[str, str]] = {
    ContentKind.PHOTO: ("sendPhoto", "photo"),
    ContentKind.VOICE: ("sendVoice", "voice"),
    ContentKind.VIDEO: ("sendVideo", "video"),
    ContentKind.VIDEO_NOTE: ("sendVideoNote", "video_note"),
    ContentKind.AUDIO: ("sendAudio", "audio"),
    ContentKind.DOCUMENT: ("sendDocument", "document"),
    ContentKind.STICKER: ("sendSticker", "sticker"),
    ContentKind.ANIMATION: ("sendAnimation", "animation"),
}
NO_CAPTION = frozenset((ContentKind.STICKER, ContentKind.VIDEO_NOTE))
# The methods that take show_caption_above_media (a voice, an audio or a document has its
# caption under it whatever the call says).
LABEL_ABOVE = frozenset(("sendPhoto", "sendVideo", "sendAnimation", "copyMessage"))


@dataclass(frozen=True, slots=True)
class Media:
    """A file that goes with the text, which becomes its caption when the kind takes one."""

    method: str
    params: Mapping[str, Any]
    captioned: bool = True

    @classmethod
    def stored(cls, kind: str, file_id: str) -> Media:
        """A file sent again by its file id (a relay never names the sender's chat)."""
        method, name = MEDIA_METHODS[kind]
        return cls(method, {name: file_id}, kind not in NO_CAPTION)

    @classmethod
    def copied_from_member(cls, kind: str, member_id: int, message_id: int | None) -> Media:
        """A member's own message copied from their chat (the chat resolved when sending)."""
        params = {"from_chat_id": outbox.FROM_MEMBER, "$member_id": member_id}
        return cls("copyMessage", {**params, "message_id": message_id}, kind not in NO_CAPTION)


@dataclass(frozen=True, slots=True)
class Notice:
    """One thing to say to one recipient (see the module's docstring).

    `header` starts every part of a long text (numbered "(2/3)" when there are several);
    `relay_case_id` makes a reply to the message reach that case; `lang` is needed only for
    a `Chat` (a case or a member has its own language). `card_case_id` marks a pool's card
    of that case (edited to "taken" once someone takes it, bot.services.casework.notify);
    `edits` is the id of a message in the recipient's chat whose text this notice replaces
    (one editMessageText: a short text, no file, no header).
    """

    to: Recipient
    text: Phrase | Entries
    buttons: tuple[tuple[Button, ...], ...] = ()
    keyboard: Keyboard | None = None
    header: Phrase = ""
    media: Media | None = None
    relay_case_id: int | None = None
    lang: str | None = None
    protect_content: bool = False
    parse_mode: str | None = None
    card_case_id: int | None = None
    edits: int | None = None


def render(rt: Runtime, lang: str, phrase: Phrase) -> str:
    """A phrase in `lang`: texts translated (their phrase arguments too), the rest as is."""
    if isinstance(phrase, str):
        return phrase
    if isinstance(phrase, Joined):
        return phrase.sep.join(render(rt, lang, part) for part in phrase.parts)
    args = {
        name: value if isinstance(value, int) else render(rt, lang, value)
        for name, value in phrase.args.items()
    }
    if isinstance(phrase, Counted):
        return rt.tr.plural(lang, phrase.msgid, phrase.plural, phrase.count, **args)
    return rt.tr(lang, phrase.msgid, **args)


def language_of(notice: Notice) -> str:
    if notice.lang is not None:
        return notice.lang
    if isinstance(notice.to, Chat):
        raise ValueError("a notice to a bare chat needs its language")
    return notice.to.language


def reply_markup(rt: Runtime, lang: str, notice: Notice) -> dict[str, Any] | None:
    """The Bot API reply_markup of a notice's buttons or keyboard, in `lang`."""
    if notice.buttons:
        return {
            "inline_keyboard": [
                [{"text": render(rt, lang, b.label), "callback_data": b.data.pack()} for b in row]
                for row in notice.buttons
            ]
        }
    if notice.keyboard is not None:
        return keyboard_markup(rt, lang, notice.keyboard)
    return None


def keyboard_markup(rt: Runtime, lang: str, keyboard: Keyboard) -> dict[str, Any]:
    """A reply keyboard as the Bot API's ReplyKeyboardMarkup, in `lang`."""
    markup: dict[str, Any] = {
        "keyboard": [
            [{"text": render(rt, lang, label)} for label in row] for row in keyboard.rows
        ],
        "resize_keyboard": True,
    }
    if keyboard.persistent:
        markup["is_persistent"] = True
    return markup


def calls(rt: Runtime, notice: Notice) -> list[text_parts.Call]:
    """The Bot API calls, in order, that deliver one notice (no chat: the outbox adds it).

    The buttons go with the last call, under the end of the text."""
    lang = language_of(notice)
    header = render(rt, lang, notice.header)
    result: list[text_parts.Call]
    if notice.edits is not None:
        if isinstance(notice.text, Entries) or notice.media is not None or header:
            raise ValueError("an edit replaces a short text: no pages, file or header")
        # editMessageText takes no protect_content: the message keeps the one it was sent with.
        edit = {"message_id": notice.edits, "text": render(rt, lang, notice.text)}
        if notice.parse_mode is not None:
            edit["parse_mode"] = notice.parse_mode
        markup = reply_markup(rt, lang, notice)
        if markup is not None:  # without one, Telegram removes the message's buttons
            edit["reply_markup"] = markup
        return [("editMessageText", edit)]
    if isinstance(notice.text, Entries):
        lines = [render(rt, lang, line) for line in notice.text.lines]
        pages = text_parts.pack(lines, header=header)
        result = [("sendMessage", {"text": page}) for page in pages]
    else:
        media = None
        if notice.media is not None:
            media = (notice.media.method, dict(notice.media.params))
        result = text_parts.messages(
            render(rt, lang, notice.text),
            header=header,
            media=media,
            captioned=notice.media.captioned if notice.media is not None else True,
        )
    options: dict[str, Any] = {}
    if notice.protect_content:
        options["protect_content"] = True
    if notice.parse_mode is not None:
        options["parse_mode"] = notice.parse_mode
    for _method, params in result:
        params.update(options)
    if header and notice.media is not None and notice.media.method in LABEL_ABOVE and result:
        # The header labels the file ("💬 #7KQ2-M9XD — the student writes:"): Telegram draws
        # it above the file, where a label goes, instead of under it like a caption.
        result[0][1]["show_caption_above_media"] = True
    markup = reply_markup(rt, lang, notice)
    if markup is not None and result:
        result[-1][1]["reply_markup"] = markup
    return result


def send(
    session: AsyncSession,
    rt: Runtime,
    notices: Notice | Iterable[Notice],
    *,
    now: datetime | None = None,
) -> list[OutboxMessage]:
    """Queue `notices` in the outbox, in order, in the caller's transaction: sent after
    commit, nothing if it rolls back. One timestamp for all: the sender sends one
    instant's rows of a chat in the order they were queued."""
    at = now or rt.now()
    rows: list[OutboxMessage] = []
    for notice in [notices] if isinstance(notices, Notice) else notices:
        for method, params in calls(rt, notice):
            rows.append(
                outbox.enqueue(
                    session,
                    rt.vault,
                    notice.to,
                    method,
                    params,
                    now=at,
                    relay_case_id=notice.relay_case_id,
                    card_case_id=notice.card_case_id,
                )
            )
    return rows


def tell(
    session: AsyncSession,
    rt: Runtime,
    member: Member,
    text: Phrase,
    *,
    buttons: tuple[tuple[Button, ...], ...] = (),
    relay_case_id: int | None = None,
) -> list[OutboxMessage]:
    """A handler's reply that reports a change, through the outbox: sent only after the
    change is committed (a reply sent at once could announce what a failed commit undid).
    `text` is a ready translation (the handler's `_()`) or a `Text`."""
    return send(
        session,
        rt,
        Notice(member, text, buttons=buttons, relay_case_id=relay_case_id),
    )
