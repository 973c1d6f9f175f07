"""Decoding Bot API request parameters the way Telegram does.

aiogram posts form fields: strings as they are, everything else JSON-encoded (numbers, booleans,
reply_markup, entities...), and files as multipart parts referenced by "attach://<name>".
Other clients may post a JSON body or use a query string; all three end up in one dict.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import BodyPartReader, MultipartReader, web

# Fields whose values are free text or opaque ids: never JSON-decoded, even when they happen
# to look like a number ("123") or a literal ("true").
STRING_FIELDS = frozenset(
    {
        "text", "caption", "parse_mode", "action", "callback_query_id", "inline_message_id",
        "url", "secret_token", "query", "description", "short_description", "name", "title",
        "emoji", "language_code", "file_id", "performer", "business_connection_id",
        "message_effect_id", "ip_address", "custom_title", "payload", "first_name",
        "last_name", "phone_number", "vcard", "question", "explanation", "address",
        "photo", "document", "voice", "video", "sticker", "audio", "animation", "video_note",
        "thumbnail", "certificate", "sticker_set_name", "invite_link",
    }
)  # fmt: skip
_INT_FIELDS = ("chat_id", "from_chat_id", "message_id", "user_id")
_JSON_START = frozenset('{["-0123456789tfn')


def decode_value(key: str, value: str) -> Any:
    if key in STRING_FIELDS or not value or value[0] not in _JSON_START:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def resolve_attachments(value: Any, files: dict[str, dict[str, Any]]) -> Any:
    """Replace "attach://name" references (also inside media lists) by the uploaded file."""
    if isinstance(value, str):
        if value.startswith("attach://"):
            return files.get(value[9:], value)
        return value
    if isinstance(value, dict):
        return {key: resolve_attachments(item, files) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve_attachments(item, files) for item in value]
    return value


async def read_multipart(
    reader: MultipartReader,
) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
    fields: dict[str, str] = {}
    files: dict[str, dict[str, Any]] = {}
    async for part in reader:
        if not isinstance(part, BodyPartReader) or part.name is None:
            continue
        if part.filename is not None:
            data = bytes(await part.read(decode=True))
            files[part.name] = {"filename": part.filename, "size": len(data), "data": data}
        else:
            fields[part.name] = await part.text()
    return fields, files


def decode_fields(
    fields: dict[str, str], files: dict[str, dict[str, Any]] | None = None
) -> dict[str, Any]:
    params = {key: decode_value(key, value) for key, value in fields.items()}
    if not files:
        return params
    params = {key: resolve_attachments(value, files) for key, value in params.items()}
    referenced = "\n".join(fields.values())
    for key, file in files.items():
        # A file posted under a field name directly (not via attach://) is that field.
        if f"attach://{key}" not in referenced and key not in params:
            params[key] = file
    return params


async def read_params(request: web.Request) -> dict[str, Any]:
    fields: dict[str, str] = dict(request.query)
    if request.content_type == "application/json":
        body = await request.read()
        params: dict[str, Any] = decode_fields(fields)
        if body:
            params.update(json.loads(body))
        # JSON clients may send ids as strings; Telegram accepts both.
        for key in _INT_FIELDS:
            value = params.get(key)
            if isinstance(value, str) and value.lstrip("-").isdigit():
                params[key] = int(value)
        return params
    if request.content_type.startswith("multipart/"):
        multipart_fields, files = await read_multipart(await request.multipart())
        fields.update(multipart_fields)
        return decode_fields(fields, files)
    if request.body_exists:
        # Form-urlencoded (aiogram's usual request) parsed directly: cheaper than post().
        form = (await request.read()).decode(request.charset or "utf-8")
        fields.update(parse_qsl(form, keep_blank_values=True))
    return decode_fields(fields)
