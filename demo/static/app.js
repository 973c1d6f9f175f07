// The demo page: two phones drawn from what the real bot sent through the local stand-in.
// Everything shown comes from /api/state; every action is a POST that Telegram would have
// turned into an update for the bot. No library, no build step, nothing from outside.
"use strict";

const PHONES = ["student", "psychologist"];
const LANGUAGE_NAMES = { ky: "Кыргызча", kk: "Қазақша", ru: "Русский" };
const PSYCHOLOGIST_COMMANDS = ["/queue", "/close", "/help"];
const ATTACHMENT_LIMIT = 10 * 1024 * 1024;
// Icons drawn here (not emoji) so they look the same on every computer.
const ICONS = {
  globe: '<svg viewBox="0 0 24 24" aria-hidden="true"><circle cx="12" cy="12" r="9" fill="none" stroke="currentColor" stroke-width="1.7"/><path d="M3 12h18M12 3c3 3.2 3 14.8 0 18M12 3c-3 3.2-3 14.8 0 18" fill="none" stroke="currentColor" stroke-width="1.5"/></svg>',
  qr: '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M3 3h7v7H3zM14 3h7v7h-7zM3 14h7v7H3z" fill="none" stroke="currentColor" stroke-width="2"/><path d="M5.5 5.5h2v2h-2zM16.5 5.5h2v2h-2zM5.5 16.5h2v2h-2zM14 14h3v3h-3zM18 18h3v3h-3zM18 14h3v2h-3zM14 18h2v3h-2z" fill="currentColor"/></svg>',
  file: '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M6 2h8l5 5v15H6z" fill="none" stroke="currentColor" stroke-width="1.8"/><path d="M14 2v5h5" fill="none" stroke="currentColor" stroke-width="1.8"/></svg>',
};

function icon(name) {
  const holder = el("span", `icon icon-${name}`);
  holder.innerHTML = ICONS[name]; // constant markup above, never data
  return holder;
}

let state = null;
let version = null;
let seenNotice = null;
let posterShown = null;
const replyTo = { student: null, psychologist: null };
const drawn = { student: "", psychologist: "" };
// Whether each chat is scrolled to its newest message (then it stays there as more comes).
const stuck = { student: true, psychologist: true };
// Where the page itself last scrolled each chat: a scroll above it is the person reading back.
const autoTop = { student: 0, psychologist: 0 };
// Each chat's drawn messages by id, with what they were drawn from: an unchanged message
// keeps its node (a picture is not loaded again, and the chat does not jump).
const drawnMessages = { student: new Map(), psychologist: new Map() };
const seenCount = { student: 0, psychologist: 0 };
const measuring = { student: null, psychologist: null };
let shownPhone = "student"; // on a narrow screen only one phone shows at a time
const ui = {};

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}

function s(key) {
  return (state && state.strings[key]) || "";
}

// A page string with its {placeholders} filled in.
function format(key, values) {
  return s(key).replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole));
}

// --- talking to the demo ------------------------------------------------------------

function apply(next) {
  if (!next || typeof next.version !== "number") return;
  if (version !== null && next.version < version) return;
  const firstTime = state === null;
  state = next;
  version = next.version;
  if (firstTime) seenNotice = Math.max(-1, ...next.notices.map((n) => n.n));
  render();
}

async function post(path, body, phone) {
  const init = { method: "POST", cache: "no-store" };
  if (body instanceof FormData) {
    init.body = body;
  } else {
    init.body = JSON.stringify(body || {});
    init.headers = { "Content-Type": "application/json" };
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    toast(phone, s("not_sent"));
    return false;
  }
  let data = null;
  try {
    data = await response.json();
  } catch (error) {
    data = null;
  }
  if (!response.ok) {
    toast(phone, (data && data.error) || s("not_sent"));
    return false;
  }
  apply(data);
  return true;
}

async function follow() {
  for (;;) {
    const url = version === null ? "/api/state" : `/api/state?since=${version}`;
    try {
      const response = await fetch(url, { cache: "no-store" });
      if (response.status === 503) {
        await sleep(400);
        continue;
      }
      if (!response.ok) throw new Error(String(response.status));
      apply(await response.json());
      document.querySelector(".offline").hidden = true;
    } catch (error) {
      if (state) document.querySelector(".offline").hidden = false;
      await sleep(1500);
    }
  }
}

// --- drawing --------------------------------------------------------------------------

function render() {
  document.documentElement.lang = state.lang;
  document.title = s("title");
  for (const phone of PHONES) if (!ui[phone]) buildPhone(phone);
  for (const node of document.querySelectorAll("[data-s]")) {
    node.textContent = s(node.dataset.s);
  }
  for (const phone of PHONES) renderPhone(phone);
  renderNotices();
  renderPoster();
}

function buildPhone(phone) {
  const column = document.querySelector(`.column[data-phone="${phone}"]`);
  column.append(document.getElementById("phone-template").content.cloneNode(true));
  column.querySelector(".phone").dataset.testid = `phone-${phone}`;
  const parts = {
    column,
    label: column.querySelector(".phone-label"),
    kind: column.querySelector(".bot-kind"),
    name: column.querySelector(".bot-name"),
    tools: column.querySelector(".tools"),
    messages: column.querySelector(".messages"),
    toast: column.querySelector(".toast"),
    replybar: column.querySelector(".replybar"),
    replyLabel: column.querySelector(".replybar-label"),
    replyText: column.querySelector(".replybar-text span"),
    form: column.querySelector(".composer"),
    input: column.querySelector("textarea"),
    file: column.querySelector(".file"),
    attach: column.querySelector(".attach"),
    send: column.querySelector(".send"),
    cancel: column.querySelector(".replybar-cancel"),
  };
  parts.note = column.querySelector(".draft-note");
  parts.counter = column.querySelector(".counter");
  parts.messages.dataset.testid = `messages-${phone}`;
  parts.input.dataset.testid = `input-${phone}`;
  parts.file.dataset.testid = `file-${phone}`;
  parts.note.dataset.testid = `note-${phone}`;
  parts.counter.dataset.testid = `counter-${phone}`;
  parts.messages.addEventListener("scroll", () => {
    const box = parts.messages;
    const nearEnd = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
    stuck[phone] = nearEnd || box.scrollTop >= autoTop[phone] - 1;
  });
  parts.form.addEventListener("submit", (event) => {
    event.preventDefault();
    send(phone);
  });
  parts.input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      send(phone);
    }
  });
  parts.input.addEventListener("input", () => {
    grow(parts.input);
    measure(phone);
  });
  parts.attach.addEventListener("click", () => parts.file.click());
  parts.file.addEventListener("change", () => upload(phone));
  parts.cancel.addEventListener("click", () => setReply(phone, null));
  if (phone === "student") buildStudentTools(parts.tools);
  else buildPsychologistTools(parts.tools);
  ui[phone] = parts;
}

function buildStudentTools(tools) {
  const langs = el("div", "langs");
  langs.setAttribute("role", "radiogroup");
  const globe = icon("globe");
  langs.append(globe);
  for (const [code, name] of Object.entries(LANGUAGE_NAMES)) {
    const button = el("button", "lang", name);
    button.type = "button";
    button.dataset.lang = code;
    button.dataset.testid = `lang-${code}`;
    button.addEventListener("click", () => chooseLanguage(code));
    langs.append(button);
  }
  const scan = el("button", "scan");
  scan.type = "button";
  scan.dataset.testid = "scan";
  scan.append(icon("qr"), el("span", null, ""));
  scan.lastChild.dataset.s = "scan";
  scan.addEventListener("click", () => post("/api/scan", {}, "student"));
  tools.append(langs, scan);
}

function buildPsychologistTools(tools) {
  const label = el("span", "tools-label");
  label.dataset.s = "commands";
  tools.append(label);
  for (const command of PSYCHOLOGIST_COMMANDS) {
    const chip = el("button", "chip", command);
    chip.type = "button";
    chip.dataset.testid = `command-${command.slice(1)}`;
    chip.addEventListener("click", () => post("/api/send", { phone: "psychologist", text: command }, "psychologist"));
    tools.append(chip);
  }
}

function renderPhone(phone) {
  const parts = ui[phone];
  const data = state.phones[phone];
  parts.label.textContent = s(phone);
  parts.name.textContent = state.bot.name;
  parts.kind.textContent = `@${state.bot.username} · ${s("bot")}`;
  parts.input.placeholder = s("message");
  parts.attach.title = s("attach");
  parts.attach.setAttribute("aria-label", s("attach"));
  parts.send.title = s("send");
  parts.send.setAttribute("aria-label", s("send"));
  parts.cancel.title = s("cancel");
  parts.cancel.setAttribute("aria-label", s("cancel"));
  parts.replyLabel.textContent = s("replying_to");
  const langs = parts.tools.querySelector(".langs");
  if (langs) langs.setAttribute("aria-label", s("phone_language"));
  const globe = parts.tools.querySelector(".icon-globe");
  if (globe) globe.title = s("phone_language");
  for (const button of parts.tools.querySelectorAll(".lang")) {
    button.setAttribute("aria-checked", String(button.dataset.lang === data.language));
  }
  if (parts.input.value) showDraft(phone);
  const snapshot = JSON.stringify([data.messages, state.lang]);
  if (snapshot === drawn[phone]) return;
  const before = drawn[phone] ? JSON.parse(drawn[phone])[0] : [];
  drawn[phone] = snapshot;
  const box = parts.messages;
  const next = new Map();
  const nodes = [];
  for (const message of data.messages) {
    const key = JSON.stringify([message, state.lang]);
    const old = drawnMessages[phone].get(message.id);
    const node = old && old.key === key ? old.node : drawMessage(phone, message);
    next.set(message.id, { key, node });
    nodes.push(node);
  }
  drawnMessages[phone] = next;
  if (!nodes.length) nodes.push(el("div", "empty", s(`${phone}_empty`)));
  const current = [...box.children];
  if (current.every((node, index) => node === nodes[index])) {
    box.append(...nodes.slice(current.length)); // only new messages: the rest stays put
  } else {
    box.replaceChildren(...nodes);
  }
  // Like Telegram: a chat at its newest message follows what comes, and what this phone
  // sends itself always brings its chat down to it.
  const known = new Set(before.map((m) => m.id));
  const sentHere = data.messages.some((m) => m.out && !known.has(m.id));
  if (stuck[phone] || sentHere) toBottom(phone);
  markUnseen(phone);
  if (replyTo[phone] && !data.messages.some((m) => m.id === replyTo[phone].id)) {
    setReply(phone, null);
  }
}

function formatSize(bytes) {
  if (!bytes) return "";
  if (bytes < 1024 * 1024) return `${Math.max(1, Math.round(bytes / 1024))} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

function toBottom(phone) {
  const box = ui[phone].messages;
  box.scrollTop = box.scrollHeight;
  autoTop[phone] = box.scrollTop;
  stuck[phone] = true;
}

function drawMedia(phone, media) {
  if (media.kind === "photo") {
    const link = el("a", "photo");
    link.href = media.url;
    link.target = "_blank";
    link.rel = "noopener";
    const image = el("img");
    image.alt = "";
    // A picture takes its height only once loaded: a chat at its newest message stays there.
    image.addEventListener("load", () => {
      if (stuck[phone]) toBottom(phone);
    });
    image.src = media.url;
    link.append(image);
    return link;
  }
  const link = el("a", "doc");
  link.href = media.url;
  link.target = "_blank";
  link.rel = "noopener";
  link.dataset.testid = "document";
  const badge = el("span", "doc-icon");
  badge.append(icon("file"));
  link.append(badge);
  const about = el("span", "doc-about");
  about.append(el("b", null, media.name || s("file")), el("small", null, formatSize(media.size)));
  link.append(about);
  return link;
}

function drawMessage(phone, message) {
  const row = el("div", `msg ${message.out ? "out" : "in"}`);
  row.dataset.id = String(message.id);
  const bubble = el("div", "bubble");
  if (message.reply_to) {
    const quote = el("div", "quote");
    quote.append(el("span", null, message.reply_to.text || `[${message.reply_to.kind || "…"}]`));
    bubble.append(quote);
  }
  // A caption goes under its file, as Telegram draws it, unless it was sent to go above.
  const text = message.text ? el("div", "text", message.text) : null;
  if (text && message.media && message.caption_above) {
    text.classList.add("caption-above");
    bubble.append(text);
  }
  if (message.media) bubble.append(drawMedia(phone, message.media));
  if (text && !(message.media && message.caption_above)) bubble.append(text);
  // The server's clock in the region's time zone, as in case transcripts: one clock.
  const meta = el("span", "meta", message.time || "");
  if (message.edited) meta.prepend(el("i", null, "✎ "));
  bubble.append(meta);
  const line = el("div", "line");
  line.append(bubble);
  const reply = el("button", "reply-btn", "↩");
  reply.type = "button";
  reply.title = s("reply");
  reply.addEventListener("click", () => setReply(phone, message));
  line.append(reply);
  row.append(line);
  if (message.buttons.length) {
    const keyboard = el("div", "keyboard");
    for (const buttons of message.buttons) {
      const keys = el("div", "keys");
      for (const button of buttons) {
        const key = el("button", "key", button.text);
        key.type = "button";
        key.addEventListener("click", () => {
          if (button.data) post("/api/press", { phone, message_id: message.id, data: button.data }, phone);
          else toast(phone, `${s("link_note")} ${button.url || ""}`);
        });
        keys.append(key);
      }
      keyboard.append(keys);
    }
    row.append(keyboard);
  }
  return row;
}

function setReply(phone, message) {
  const parts = ui[phone];
  replyTo[phone] = message ? { id: message.id } : null;
  parts.replybar.hidden = !message;
  if (message) {
    parts.replyText.textContent = message.text || (message.media ? `[${message.media.kind}]` : "");
    parts.input.focus();
  }
}

function grow(input) {
  input.style.height = "auto";
  input.style.height = `${Math.min(input.scrollHeight, 120)}px`;
}

// --- the draft: its length as Telegram counts it, and notes about it ---------------------

function note(phone, text, warn) {
  const box = ui[phone].note;
  box.textContent = text || "";
  box.hidden = !text;
  box.classList.toggle("warn", Boolean(warn));
}

// The counter and the note for the draft as it stands. A JavaScript string's length is in
// UTF-16 code units, exactly what Telegram's 4,096 counts; how a longer text is cut into
// messages the server says (bot/delivery/text_parts.py).
function showDraft(phone, parts) {
  const view = ui[phone];
  const units = view.input.value.length;
  const limit = state.text_limit;
  view.counter.hidden = units === 0;
  view.counter.textContent = `${units} / ${limit}`;
  view.counter.classList.toggle("over", units > limit);
  if (units <= limit) {
    note(phone, "");
  } else if (parts && parts.units === units) {
    if (parts.parts > parts.max_parts) note(phone, s("too_long"), true);
    else note(phone, format("will_split", { limit, parts: parts.parts }), false);
  }
}

async function measure(phone) {
  showDraft(phone);
  const text = ui[phone].input.value;
  if (text.length <= state.text_limit) return;
  clearTimeout(measuring[phone]);
  measuring[phone] = setTimeout(async () => {
    try {
      const response = await fetch("/api/measure", {
        method: "POST",
        cache: "no-store",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ text }),
      });
      if (response.ok && ui[phone].input.value === text) showDraft(phone, await response.json());
    } catch (error) {
      // the offline banner says it; the counter still counts
    }
  }, 150);
}

async function send(phone) {
  const parts = ui[phone];
  const text = parts.input.value;
  if (!text.trim()) {
    note(phone, s("empty_message"), true);
    parts.input.focus();
    return;
  }
  const body = { phone, text };
  if (replyTo[phone]) body.reply_to = replyTo[phone].id;
  parts.input.value = "";
  grow(parts.input);
  showDraft(phone);
  if (await post("/api/send", body, phone)) {
    setReply(phone, null);
  } else {
    parts.input.value = text;
    grow(parts.input);
    measure(phone);
  }
}

// The page's language buttons: the server changes the phone's language and, once the bot
// knows the student, goes through the bot's own /lang, which takes a moment.
async function chooseLanguage(code) {
  const langs = ui.student.tools.querySelector(".langs");
  if (langs.getAttribute("aria-busy") === "true") return;
  langs.setAttribute("aria-busy", "true");
  try {
    await post("/api/lang", { lang: code }, "student");
  } finally {
    langs.setAttribute("aria-busy", "false");
  }
}

// --- narrow screens: one phone at a time ----------------------------------------------------

function showPhone(phone) {
  shownPhone = phone;
  document.getElementById("tab-chat").dataset.show = phone;
  for (const button of document.querySelectorAll(".phone-switch button")) {
    button.setAttribute("aria-pressed", String(button.dataset.show === phone));
  }
  markUnseen(phone);
  toBottom(phone);
}

function narrow() {
  return getComputedStyle(document.querySelector(".phone-switch")).display !== "none";
}

// A dot on the switch of a phone out of sight that got new messages.
function markUnseen(phone) {
  const count = state.phones[phone].messages.length;
  if (phone === shownPhone || !narrow()) seenCount[phone] = count;
  const dot = document.querySelector(`.phone-switch [data-show="${phone}"] .dot`);
  dot.hidden = count <= seenCount[phone];
}

async function upload(phone) {
  const parts = ui[phone];
  const file = parts.file.files[0];
  parts.file.value = "";
  if (!file) return;
  if (file.size > ATTACHMENT_LIMIT) {
    toast(phone, s("too_big"));
    return;
  }
  const form = new FormData();
  form.append("phone", phone);
  if (replyTo[phone]) form.append("reply_to", String(replyTo[phone].id));
  form.append("file", file, file.name);
  if (await post("/api/upload", form, phone)) setReply(phone, null);
}

function toast(phone, text, alert) {
  const box = ui[phone] && ui[phone].toast;
  if (!box || !text) return;
  box.textContent = text;
  box.classList.toggle("alert", Boolean(alert));
  box.hidden = false;
  clearTimeout(box.timer);
  box.timer = setTimeout(() => { box.hidden = true; }, alert ? 6000 : 4000);
}

function renderNotices() {
  for (const notice of state.notices) {
    if (notice.n <= seenNotice) continue;
    seenNotice = notice.n;
    toast(notice.phone, notice.text, notice.alert);
  }
}

function renderPoster() {
  const choice = document.querySelector(".poster-choice");
  const wanted = posterShown || state.poster;
  const poster = state.posters.find((p) => p.lang === wanted) || state.posters[0];
  if (!poster) return;
  if (choice.childElementCount !== state.posters.length) {
    choice.replaceChildren();
    for (const item of state.posters) {
      const languages = item.languages.map((code) => LANGUAGE_NAMES[code] || code).join(" + ");
      const button = el("button", "poster-pick");
      button.append(el("b", null, item.classroom), el("span", null, languages), el("small", null, item.code));
      button.type = "button";
      button.dataset.lang = item.lang;
      button.addEventListener("click", () => {
        posterShown = item.lang;
        renderPoster();
      });
      choice.append(button);
    }
  }
  for (const button of choice.children) {
    button.setAttribute("aria-pressed", String(button.dataset.lang === poster.lang));
  }
  document.querySelector(".open-pdf").href = poster.url;
  const frame = document.querySelector(".poster-frame");
  if (frame.dataset.src !== poster.url && !document.getElementById("tab-poster").hidden) {
    frame.dataset.src = poster.url;
    frame.src = `${poster.url}#navpanes=0&view=Fit`; // the whole page, no thumbnails
  }
}

function showTab(name) {
  for (const tab of document.querySelectorAll("[role=tab]")) {
    tab.setAttribute("aria-selected", String(tab.dataset.tab === name));
  }
  document.getElementById("tab-chat").hidden = name !== "chat";
  document.getElementById("tab-poster").hidden = name !== "poster";
  if (state) renderPoster();
}

document.addEventListener("DOMContentLoaded", () => {
  for (const tab of document.querySelectorAll("[role=tab]")) {
    tab.addEventListener("click", () => showTab(tab.dataset.tab));
  }
  for (const button of document.querySelectorAll(".phone-switch button")) {
    button.addEventListener("click", () => showPhone(button.dataset.show));
  }
  follow();
});
