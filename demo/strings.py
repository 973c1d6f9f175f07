"""The demo page's own words (its frame around the two phones), from the catalogues.

Everything inside the phones comes from the bot; these are only the page's labels.
"""

from __future__ import annotations

from bot.domain import Language
from bot.i18n import Translate
from bot.services.labels import N_

PAGE_STRINGS: dict[str, str] = {
    "title": N_("TrustLine demo"),
    "notice": N_(
        "This is a demo. Everything runs on this computer: the Telegram shown here is a "
        "local stand-in, the people are made up, and nothing is sent to Telegram or anywhere "
        "else."
    ),
    "conversation_tab": N_("Student and psychologist"),
    "poster_tab": N_("Classroom poster"),
    "student": N_("Student"),
    "psychologist": N_("Psychologist"),
    "bot": N_("bot"),
    "phone_language": N_("Phone language"),
    "scan": N_("Scan the classroom poster"),
    "message": N_("Message"),
    "send": N_("Send"),
    "attach": N_("Attach a photo or a file"),
    "reply": N_("Reply"),
    "cancel": N_("Cancel"),
    "replying_to": N_("In reply to"),
    "commands": N_("Commands"),
    "student_empty": N_(
        "Scan the classroom poster, as a student would with their phone camera, or just write."
    ),
    "psychologist_empty": N_("The psychologist's chat with the bot appears here."),
    "too_big": N_(
        "This file is larger than 10 MB, the most the demo takes (Telegram's limit for "
        "photos). Choose a smaller one."
    ),
    "too_long": N_(
        "This text would take more than 10 Telegram messages, more than the demo sends at "
        "once. Shorten it or send it in pieces."
    ),
    "empty_message": N_("Nothing to send: the message is empty. Write something first."),
    "will_split": N_(
        "Longer than one Telegram message ({limit} characters): it will be sent as {parts} "
        "messages, one after another."
    ),
    "empty_file": N_("This file is empty."),
    "not_sent": N_("Not sent: the demo did not accept this. Try again."),
    "offline": N_("The demo is not running. Start it again with: trustline demo"),
    "open_pdf": N_("Open the PDF"),
    "poster_about": N_(
        "The demo school's poster, made by TrustLine's own poster code exactly as for a real "
        "school. Its QR code names the demo bot, which exists only on this computer, so this "
        "poster is not for a classroom wall."
    ),
    "link_note": N_("In Telegram this button opens a link. The demo opens nothing outside."),
    "file": N_("File"),
}


def page_strings(tr: Translate, lang: str) -> dict[str, str]:
    """The page's labels in `lang` (one of ky, kk, ru; anything else gets Russian)."""
    known = {code.value for code in Language}
    lang = lang if lang in known else Language.RU.value
    return {key: tr(lang, msgid) for key, msgid in PAGE_STRINGS.items()}
