// The renderer: the only code that touches the DOM. Python (in the worker) decides what the
// page shows and sends commands ({op: ...}, see pyapp/view.py); this applies them. What the
// user does goes back as events ({type: ...}, handled by pyapp/app.py).
//
// Rendered Markdown arrives as HTML blocks from Python; each block passes through DOMPurify
// with an allowlist before it reaches the DOM (no script, no style, no image, links only to
// http(s) and mailto), so a hostile reply cannot run code or fetch anything.
import { icon } from "./icons.js";

const STICK_PX = 48; // within this distance of the bottom, new text keeps the list scrolled down
const IMPORT_LIMIT = 64 * 1024 * 1024; // bytes: a larger file is refused before it is read
const ATTACH_LIMIT = 20 * 1024 * 1024; // bytes: pyapp/attachments.py refuses more, so don't send it
const SETTING_SAVE_MS = 400; // the system prompt is saved this long after the last keystroke
const MODEL_CACHE = "hearth-models"; // where site/sw.js and site/model.js keep the model
export const TAB_CHAT = "hearth-open-chat"; // this tab's open chat, in its sessionStorage
const MAC = /^(Mac|iPhone|iPad)/; // navigator.platform where the save shortcut is ⌘+Enter
const FOLD_CHARS = 1200; // a user message longer than this (or than FOLD_LINES) shows folded
const FOLD_LINES = 12;
const DRAFT_KEY = "hearth-draft"; // the message box's text, so that a reload keeps it
const SANITIZE = {
  ALLOWED_TAGS: ["p", "br", "strong", "em", "s", "del", "code", "pre", "span", "a", "ul", "ol", "li",
    "blockquote", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "table", "thead", "tbody", "tr", "th", "td"],
  ALLOWED_ATTR: ["href", "title", "class", "start", "target", "rel"],
  ALLOWED_URI_REGEXP: /^(?:https?:|mailto:)/i,
  ALLOW_DATA_ATTR: false,
  RETURN_DOM_FRAGMENT: true,
};

export class Renderer {
  constructor(doc, emit, purify) {
    this.doc = doc;
    this.emit = emit;
    this.purify = purify;
    this.sources = new WeakMap(); // a shown Markdown block -> the HTML it was drawn from
    purify.addHook("afterSanitizeAttributes", (node) => {
      if (node.tagName === "A") {
        node.setAttribute("target", "_blank");
        node.setAttribute("rel", "noopener noreferrer");
      }
    });
    const $ = (id) => doc.getElementById(id);
    this.el = {
      status: $("status"), banner: $("error"), bannerText: $("error-text"),
      bannerAction: $("error-action"), bannerClose: $("error-close"), version: $("version"),
      linkPreset: $("link-preset"), announce: $("announce"),
      messages: $("messages"), prompt: $("prompt"), skip: $("skip"), send: $("send"), stop: $("stop"),
      backend: $("backend"), model: $("model"), newChat: $("new-chat"), composer: $("composer"),
      chatList: $("chat-list"), chatEmpty: $("chat-empty"), search: $("chat-search"),
      exportAll: $("export"), exportMarkdown: $("export-markdown"), importFile: $("import"),
      settingsPanel: $("settings"), removeModel: $("remove-model"), storage: $("storage"),
      system: $("setting-system"), systemDefault: $("system-default"),
      attach: $("attach"), attachButton: $("attach-button"), chips: $("attachments"),
      sidebar: $("sidebar"), scrim: $("scrim"), main: doc.querySelector(".main"), sidebarOpen: $("sidebar-open"), sidebarClose: $("sidebar-close"),
    };
    this.settings = [...doc.querySelectorAll("[data-setting]")];
    this.defaults = {}; // each setting's value before anyone changed it (op_settings)
    this.shown = new Map(); // message id -> {element, text (raw Markdown), role}
    this.busy = true;
    for (const element of doc.querySelectorAll("[data-icon]")) element.append(icon(element.dataset.icon));
    this.bind();
  }

  bind() {
    const { el, emit } = this;
    el.composer.addEventListener("submit", (event) => { event.preventDefault(); this.send(); });
    el.prompt.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.send();
      }
    });
    el.prompt.addEventListener("input", () => {
      this.fitPrompt();
      this.updateSend();
      keepDraft(el.prompt.value);
    });
    if (!el.prompt.value) { el.prompt.value = savedDraft(); this.fitPrompt(); } // as before a reload
    this.doc.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && !el.stop.disabled) emit({ type: "stop" });
      else if (event.key === "Escape" && el.sidebar.classList.contains("open")) this.toggleSidebar(false);
    });
    // A link, so it is where keyboard users look first; it moves the focus rather than the
    // URL, and to the messages while the message box is still disabled.
    el.skip.addEventListener("click", (event) => {
      event.preventDefault();
      (el.prompt.disabled ? el.messages : el.prompt).focus();
    });
    el.stop.addEventListener("click", () => emit({ type: "stop" }));
    el.backend.addEventListener("change", () => emit({ type: "backend", value: el.backend.value }));
    el.model.addEventListener("change", () => emit({ type: "model", value: el.model.value }));
    el.newChat.addEventListener("click", () => { this.toggleSidebar(false); emit({ type: "new_chat" }); });
    el.bannerAction.addEventListener("click", () => {
      el.banner.hidden = true;
      el.prompt.focus(); // the button is gone: the keyboard goes back to the message box
      emit({ type: "banner_action" });
    });
    el.bannerClose.addEventListener("click", () => {
      el.banner.hidden = true;
      (el.prompt.disabled ? el.messages : el.prompt).focus(); // not lost to the page's top
    });
    el.linkPreset.addEventListener("click", () => emit({ type: "link_notice" }));
    el.settingsPanel.addEventListener("toggle", () => { if (el.settingsPanel.open) this.showStorage(); });
    el.removeModel.addEventListener("click", () => this.removeModel());
    // An emptied or rewritten system prompt can be put back without retyping it: saved as
    // if typed, and the keyboard stays in the field (the button hides itself)
    el.systemDefault.addEventListener("click", () => {
      el.system.value = this.defaults.system;
      el.system.dispatchEvent(new Event("change"));
      el.system.focus();
      this.showSystemDefault();
    });
    el.system.addEventListener("input", () => this.showSystemDefault());
    // A list scrolled to its end stays there when it gets shorter (a banner or the settings
    // open above it, the message box grows), so the newest message stays in view.
    const list = el.messages;
    let atEnd = true;
    list.addEventListener("scroll", () => {
      atEnd = list.scrollHeight - list.scrollTop - list.clientHeight < STICK_PX;
    }, { passive: true });
    new ResizeObserver(() => { if (atEnd) list.scrollTop = list.scrollHeight; }).observe(list);
    el.search.addEventListener("input", () => emit({ type: "search", query: el.search.value }));
    el.exportAll.addEventListener("click", () => emit({ type: "export" }));
    el.exportMarkdown.addEventListener("click", () => emit({ type: "export_markdown" }));
    el.importFile.addEventListener("change", () => this.importChosen());
    el.attachButton.addEventListener("click", () => el.attach.click());
    el.attach.addEventListener("change", () => { this.attachFiles([...el.attach.files]); el.attach.value = ""; });
    el.composer.addEventListener("dragover", (event) => {
      if (![...(event.dataTransfer?.types || [])].includes("Files")) return;
      event.preventDefault();
      el.composer.classList.add("dropping");
    });
    el.composer.addEventListener("dragleave", () => el.composer.classList.remove("dropping"));
    el.composer.addEventListener("drop", (event) => {
      el.composer.classList.remove("dropping");
      if (!event.dataTransfer?.files.length) return;
      event.preventDefault();
      this.attachFiles([...event.dataTransfer.files]);
    });
    el.sidebarOpen.addEventListener("click", () => this.toggleSidebar(true));
    el.sidebarClose.addEventListener("click", () => this.toggleSidebar(false));
    el.scrim.addEventListener("click", () => this.toggleSidebar(false));
    // On a narrow screen the chat list slides in over the page: while it is out of view,
    // it is inert, so Tab does not wander through controls nobody can see.
    this.narrow = this.doc.defaultView.matchMedia("(max-width: 720px)");
    this.narrow.addEventListener("change", () => this.toggleSidebar(false));
    this.toggleSidebar(false);
    for (const input of this.settings) {
      const save = () => {
        clearTimeout(input.saveTimer);
        input.typed = false;
        if (input.value !== input.sent) emit({ type: "setting", name: input.dataset.setting, value: input.value });
        input.sent = input.value;
      };
      input.addEventListener("change", save);
      // The value in use typed again fires no `change`: say so when the field is left (not
      // when the window is), so that a refusal's banner about it goes; nothing is saved.
      if (input.tagName === "INPUT") {
        input.addEventListener("input", () => { input.typed = true; });
        input.addEventListener("blur", () => {
          if (!input.typed || this.doc.activeElement === input) return;
          input.typed = false;
          if (input.value === input.sent) emit({ type: "setting_kept", name: input.dataset.setting });
        });
      }
      // the system prompt is saved as it is typed, SETTING_SAVE_MS after the last keystroke:
      // a reload after that pause keeps it (one within it does not)
      if (input.tagName === "TEXTAREA") {
        input.addEventListener("input", () => {
          clearTimeout(input.saveTimer);
          input.saveTimer = setTimeout(save, SETTING_SAVE_MS);
        });
      }
    }
  }

  send() {
    const { prompt, send, chips } = this.el;
    if (send.disabled || (!prompt.value.trim() && chips.hidden)) return;
    for (const shown of this.shown.values()) shown.closeEdit?.(); // a new message ends an edit
    this.emit({ type: "send", text: prompt.value });
  }

  // Each file's bytes go to Python, which extracts the text (PDF included) and counts its
  // tokens; the chips come back as the "attachments" command.
  async attachFiles(files) {
    for (const file of files) {
      if (file.size > ATTACH_LIMIT) {
        const mb = (file.size / 1048576).toFixed(1);
        this.op_banner({ text: `${file.name} is ${mb} MB; Hearth attaches files up to ${ATTACH_LIMIT / 1048576} MB. Attach a shorter excerpt.` });
        continue;
      }
      try {
        this.emit({ type: "attach", name: file.name, data: new Uint8Array(await file.arrayBuffer()) });
      } catch (error) {
        this.op_banner({ text: `${file.name} could not be read (${error.message}); nothing was attached.` });
      }
    }
  }

  op_attachments({ items }) {
    const list = this.el.chips;
    list.replaceChildren(...items.map((item, index) => {
      const chip = this.chip(item);
      const remove = this.iconButton("close", `Remove ${item.name}`, "detach");
      remove.addEventListener("click", () => this.emit({ type: "detach", index }));
      chip.append(remove);
      return chip;
    }));
    list.hidden = items.length === 0;
    this.updateSend();
  }

  chip({ name, tokens, estimated }) {
    const doc = this.doc;
    const chip = doc.createElement("li");
    chip.className = "chip";
    chip.dataset.testid = "attachment";
    chip.dataset.tokens = String(tokens);
    const label = Object.assign(doc.createElement("span"), { className: "chip-name", textContent: name, title: name });
    const count = Object.assign(doc.createElement("span"), {
      className: "chip-tokens",
      textContent: `${estimated ? "≈" : ""}${tokens.toLocaleString()} tokens`,
    });
    chip.append(label, count);
    return chip;
  }

  // The composer grows with its text up to about eight lines, then scrolls.
  fitPrompt() {
    const prompt = this.el.prompt;
    prompt.style.height = "auto";
    prompt.style.height = `${Math.min(prompt.scrollHeight + 2, 8 * 24)}px`;
  }

  // On a narrow screen the open list covers the page like a dialog: the page behind it is
  // inert, so Tab stays in the list until it is closed.
  toggleSidebar(open) {
    const { sidebar, sidebarOpen, scrim, search, main, skip } = this.el;
    main.inert = skip.inert = this.narrow.matches && open;
    const active = this.doc.activeElement;
    const left = sidebar.classList.contains("open") && (sidebar.contains(active) || active === this.doc.body);
    if (!open && left) sidebarOpen.focus(); // closed from within: the keyboard goes back to ☰
    sidebar.classList.toggle("open", open);
    sidebar.inert = this.narrow.matches && !open;
    scrim.hidden = !open;
    sidebarOpen.setAttribute("aria-expanded", String(open));
    if (open) search.focus();
  }

  async importChosen() {
    const input = this.el.importFile;
    const file = input.files && input.files[0];
    input.value = "";
    if (!file) return;
    if (file.size > IMPORT_LIMIT) {
      this.op_banner({ text: `${file.name} is too large to be a Hearth export (${Math.round(file.size / 1048576)} MB); nothing was imported.` });
      return;
    }
    this.emit({ type: "import", name: file.name, text: await file.text() });
  }

  apply(command) {
    const handler = this[`op_${command && command.op}`];
    if (handler) handler.call(this, command);
    else console.warn("Hearth: unknown view command", command);
  }

  bootFailed(message) {
    this.op_status({ state: "error", text: "Python failed to start" });
    this.op_banner({ text: `${message}. Reload the page; if it persists, rebuild with "python build.py".` });
  }

  // The chat this tab has open, for its next reload (site/boot.js reads it back)
  op_tab_chat({ id }) {
    try {
      sessionStorage.setItem(TAB_CHAT, id);
    } catch {
      // not kept: a reload opens the profile's last chat instead
    }
  }

  op_boot_error({ message }) {
    if (this.el.status.dataset.state !== "error") this.bootFailed(message);
    else console.error(message);
  }

  op_csp_violation({ directive, blocked, source }) {
    console.error(`Content Security Policy violation in the worker: ${directive} blocked ${blocked} (${source})`);
  }

  op_version({ text, title }) {
    this.el.version.textContent = text;
    this.el.version.title = title;
  }

  op_status({ state, text }) {
    this.el.status.textContent = text;
    this.el.status.dataset.state = state;
  }

  op_banner({ text, action, kind }) {
    const { banner, bannerText, bannerAction } = this.el;
    bannerText.replaceChildren(...withCode(this.doc, text));
    bannerAction.hidden = !action;
    if (action) bannerAction.textContent = action;
    banner.dataset.kind = kind || "error";
    banner.setAttribute("role", kind === "info" ? "status" : "alert");
    banner.hidden = false;
  }

  op_phases({ seconds }) {
    this.el.status.dataset.phases = JSON.stringify(seconds);
  }

  // While a link's presets are in force (pyapp/settings.py NOTICED), a lasting sign: the
  // banner that named them goes with the first message, the presets do not.
  op_link_preset({ text }) {
    const pill = this.el.linkPreset;
    pill.hidden = !text;
    pill.title = text || "";
  }

  // The user went back to their own settings: a reload must not apply the link's again.
  op_forget_params({ names }) {
    const url = new URL(location.href);
    for (const name of names) url.searchParams.delete(name);
    history.replaceState(history.state, "", url);
  }

  op_banner_hide() {
    this.el.banner.hidden = true;
  }

  op_controls({ busy, ready }) {
    const { prompt, stop, backend, model, newChat } = this.el;
    this.busy = busy;
    prompt.disabled = newChat.disabled = false;
    this.ready = ready;
    this.updateSend();
    // a disabled button drops the focus to the page: the keyboard goes back to the message box
    if (!busy && this.doc.activeElement === stop) prompt.focus();
    stop.disabled = !busy;
    // New chat and the chat list stay on: leaving a chat stops the reply it is writing
    backend.disabled = model.disabled = busy;
    this.el.messages.classList.toggle("busy", busy);
    this.markLastReply();
  }

  // What a screen reader should hear now (a finished reply, a copy), from a polite live
  // region; emptied first, so that the same words twice are heard twice.
  say(text) {
    const region = this.el.announce;
    region.textContent = "";
    requestAnimationFrame(() => { region.textContent = text; });
  }

  // Send is on only when there is something to send: text that is not only blanks, or a file.
  updateSend() {
    const { prompt, send, chips } = this.el;
    send.disabled = this.busy || !this.ready || (!prompt.value.trim() && chips.hidden);
  }

  op_backend({ value, hint }) {
    this.el.backend.value = value;
    this.el.messages.dataset.empty = hint || ""; // shown by app.css while no message is
  }

  op_models({ options, selected }) {
    const select = this.el.model;
    select.replaceChildren(...options.map(([value, label]) => {
      const option = this.doc.createElement("option");
      option.value = value;
      option.textContent = label;
      return option;
    }));
    if (selected != null) select.value = selected;
  }

  op_settings({ values, defaults }) {
    for (const input of this.settings) {
      if (input.dataset.setting in values) input.value = input.sent = values[input.dataset.setting];
    }
    this.defaults = defaults;
    this.showSystemDefault();
  }

  showSystemDefault() {
    const { system, systemDefault } = this.el;
    systemDefault.hidden = this.defaults.system === undefined || system.value === this.defaults.system;
  }

  op_prompt({ text }) {
    this.el.prompt.value = text;
    keepDraft(text);
    this.updateSend();
    this.fitPrompt();
    this.el.prompt.focus();
  }

  // A message that was not sent (a failed or stopped turn, a refused edit) comes back first,
  // above what was typed since, so neither is lost; the caret goes to its end, unless
  // someone is typing in the box.
  op_give_back({ text }) {
    const box = this.el.prompt;
    const draft = box.value;
    if (draft.trim() === text.trim()) return box.focus(); // it is there already
    if (!draft.trim()) return this.op_prompt({ text });
    // above the draft; someone typing there keeps typing where they were
    const typing = this.doc.activeElement === box;
    const [start, end] = [box.selectionStart, box.selectionEnd];
    this.op_prompt({ text: `${text}\n\n${draft}` });
    const shift = text.length + 2;
    if (typing) box.setSelectionRange(start + shift, end + shift);
    else box.setSelectionRange(text.length, text.length);
  }

  op_download({ name, mime, text }) {
    const url = URL.createObjectURL(new Blob([text], { type: mime }));
    const link = Object.assign(this.doc.createElement("a"), { href: url, download: name });
    this.doc.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  }

  // the chat list

  op_chats({ items, active, query }) {
    const list = this.el.chatList;
    const focus = this.focusInList();
    list.replaceChildren(...items.map((item) => this.chatItem(item, item.id === active)));
    this.el.chatEmpty.hidden = items.length > 0;
    this.el.chatEmpty.textContent = query ? "No chat matches." : "No saved chats yet.";
    if (this.doc.activeElement !== this.el.search) this.el.search.value = query;
    if (focus) this.refocus(focus);
  }

  // The list is rebuilt whenever a chat changes (a reply ending, a rename, a delete), so
  // the control that had focus is found again: the same one of the same chat, or, for a
  // deleted chat, the title of the one now in its place.
  focusInList() {
    const focused = this.doc.activeElement;
    const item = focused?.closest?.("[data-testid=chat-item]");
    if (!item || !this.el.chatList.contains(item)) return null;
    const index = [...this.el.chatList.children].indexOf(item);
    return { id: item.dataset.id, testid: focused.dataset.testid, index };
  }

  refocus({ id, testid, index }) {
    const items = [...this.el.chatList.children];
    const same = items.find((item) => item.dataset.id === id);
    const control = same?.querySelector(`[data-testid="${testid}"]`);
    const near = items[Math.min(index, items.length - 1)];
    const target = control || near?.querySelector("[data-testid=chat-title]") || this.el.search;
    target.focus();
  }

  chatItem({ id, title }, active) {
    const doc = this.doc;
    const item = doc.createElement("li");
    Object.assign(item.dataset, { testid: "chat-item", id, active: String(active) });
    const open = doc.createElement("button");
    Object.assign(open, { type: "button", className: "chat-title", textContent: title, title });
    open.dataset.testid = "chat-title";
    if (active) open.setAttribute("aria-current", "true");
    const rename = this.iconButton("edit", `Rename “${title}”`, "chat-rename");
    const remove = this.iconButton("delete", `Delete “${title}”`, "chat-delete");
    item.append(open, rename, remove);
    item.addEventListener("click", (event) => {
      if (event.target.closest(".chat-action, input")) return;
      this.toggleSidebar(false);
      this.emit({ type: "open_chat", id });
    });
    rename.addEventListener("click", () => this.renameChat(item, open, id, title));
    remove.addEventListener("click", () => this.emit({ type: "delete", id }));
    return item;
  }

  renameChat(item, titleButton, id, title) {
    const input = Object.assign(this.doc.createElement("input"), { type: "text", value: title, className: "chat-rename-input" });
    input.setAttribute("aria-label", "New title");
    let done = false;
    const finish = (keep, byKey) => {
      if (done) return;
      done = true;
      const value = input.value.trim();
      input.replaceWith(titleButton);
      if (byKey) titleButton.focus(); // Enter or Escape: the keyboard stays on this chat
      if (keep && value && value !== title) this.emit({ type: "rename", id, title: value });
    };
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter") { event.preventDefault(); finish(true, true); }
      if (event.key === "Escape") { event.stopPropagation(); finish(false, true); }
    });
    input.addEventListener("blur", () => finish(true, false));
    titleButton.replaceWith(input);
    // all selected, to type over, from its end back to its start, and scrolled to its
    // start: a long title shows its beginning (select() scrolls it to the end)
    input.focus();
    input.setSelectionRange(0, input.value.length, "backward");
    input.scrollLeft = 0;
  }

  iconButton(name, label, testid) {
    const button = this.doc.createElement("button");
    button.type = "button";
    button.className = "icon chat-action";
    button.setAttribute("aria-label", label);
    button.title = label;
    if (testid) button.dataset.testid = testid;
    button.append(icon(name));
    return button;
  }

  // messages

  op_messages({ items }) {
    this.shown.clear();
    this.el.messages.replaceChildren();
    for (const item of items) this.op_message({ item });
    this.el.messages.scrollTop = this.el.messages.scrollHeight;
  }

  op_keep({ ids }) {
    const keep = new Set(ids);
    for (const [id, shown] of this.shown) {
      if (!keep.has(id)) {
        shown.element.remove();
        this.shown.delete(id);
      }
    }
  }

  op_remove({ ids }) {
    for (const id of ids) {
      this.shown.get(id)?.element.remove();
      this.shown.delete(id);
    }
    this.markLastReply();
  }

  op_message({ item }) {
    const list = this.el.messages;
    const stick = list.scrollHeight - list.scrollTop - list.clientHeight < STICK_PX;
    let shown = this.shown.get(item.id);
    const added = !shown;
    if (added) {
      shown = this.newMessage(item);
      list.appendChild(shown.element);
      this.shown.set(item.id, shown);
    }
    const { element, content } = shown;
    if (!shown.editing) {
      content.className = item.html ? "content markdown" : "content plain";
      if (item.html) this.renderBlocks(content, item.html);
      else if (shown.text !== item.text || content.children.length) content.textContent = item.text;
    }
    shown.text = item.text;
    if (item.role === "user") this.fold(shown);
    for (const [key, value] of Object.entries(item.data || {})) element.dataset[key] = value;
    if (item.model) element.dataset.model = item.model;
    if (item.backend) element.dataset.backend = item.backend;
    if (item.route) element.dataset.routeReason = item.route;
    if (item.badge) {
      shown.badge.textContent = item.badge.text;
      shown.badge.title = item.badge.why || "";
      shown.badge.hidden = false;
    }
    if (item.attachments?.length && !shown.chips.children.length) {
      shown.chips.replaceChildren(...item.attachments.map((a) => this.chip(a)));
      shown.chips.hidden = false;
    }
    element.dataset.stopped = String(item.state === "stopped");
    element.dataset.interrupted = String(item.state === "interrupted");
    // a streaming reply is redrawn many times a second: scan the list only when it changes
    const changed = added || shown.state !== item.state;
    // A screen reader hears a reply once, whole, when it ends (not every redraw of it).
    if (shown.state === "streaming" && item.state !== "streaming") this.say(content.innerText);
    shown.state = item.state;
    // data-done last: tests and the benchmark wait for it, then read the figures above
    element.dataset.done = String(item.state !== "streaming");
    if (changed) this.markLastReply();
    if (stick) list.scrollTop = list.scrollHeight;
  }

  newMessage(item) {
    const doc = this.doc;
    const element = doc.createElement("article");
    Object.assign(element.dataset, { testid: "message", id: item.id, role: item.role });
    element.setAttribute("aria-label", item.role === "user" ? "You" : "Assistant");
    const content = doc.createElement("div");
    const actions = doc.createElement("div");
    actions.className = "message-actions";
    const chips = Object.assign(doc.createElement("ul"), { className: "chips message-chips", hidden: true });
    chips.setAttribute("aria-label", "Attached files");
    const badge = Object.assign(doc.createElement("span"), { className: "badge", hidden: true });
    badge.dataset.testid = "route-badge";
    const shown = { element, content, chips, badge, text: "", editing: false };
    const copy = this.iconButton("copy", "Copy as Markdown", "copy");
    copy.addEventListener("click", () => this.copy(copy, shown.text));
    actions.append(copy);
    if (item.role === "user") {
      const edit = this.iconButton("edit", "Edit and resend", "edit");
      edit.addEventListener("click", () => this.edit(item.id, shown));
      actions.append(edit);
    } else {
      const again = this.iconButton("regenerate", "Regenerate this reply", "regenerate");
      again.addEventListener("click", () => {
        this.el.prompt.focus(); // the reply, and this button, are drawn anew
        this.emit({ type: "regenerate" });
      });
      actions.append(again);
    }
    element.append(chips, content, badge, actions);
    return shown;
  }

  // A long paste shows its first lines, with a button for the rest, so that it does not
  // push the conversation out of view.
  fold(shown) {
    const long = shown.text.length > FOLD_CHARS || shown.text.split("\n").length > FOLD_LINES;
    if (long && !shown.fold) {
      const button = Object.assign(this.doc.createElement("button"), { type: "button", className: "fold" });
      button.dataset.testid = "fold";
      button.addEventListener("click", () => { shown.unfolded = !shown.unfolded; this.fold(shown); });
      shown.content.after(button);
      shown.fold = button;
    } else if (!long && shown.fold) {
      shown.fold.remove();
      shown.fold = null;
    }
    shown.content.classList.toggle("folded", long && !shown.unfolded);
    if (!shown.fold) return;
    shown.fold.textContent = shown.unfolded ? "Show less" : "Show all";
    shown.fold.setAttribute("aria-expanded", String(Boolean(shown.unfolded)));
  }

  // Only the newest reply can be regenerated, and only when nothing is being written.
  markLastReply() {
    const replies = this.el.messages.querySelectorAll("[data-testid=message][data-role=assistant]");
    replies.forEach((reply, index) => {
      const button = reply.querySelector("[data-testid=regenerate]");
      // a reply still streaming (here, or in another tab) cannot be regenerated yet
      const hidden = index !== replies.length - 1 || this.busy || reply.dataset.done === "false";
      if (button && button.hidden !== hidden) button.hidden = hidden;
    });
    for (const button of this.el.messages.querySelectorAll("[data-testid=edit]")) {
      if (button.disabled !== this.busy) button.disabled = this.busy;
    }
  }

  // Blocks from `start` on are new or changed; each is sanitised on its own, then merged
  // into what is shown (see `morph`).
  renderBlocks(content, { start, blocks }) {
    const doc = this.doc;
    while (content.children.length > start + blocks.length) content.lastElementChild.remove();
    blocks.forEach((html, offset) => {
      let block = content.children[start + offset];
      if (!block) {
        block = doc.createElement("div");
        block.className = "block";
        content.append(block);
      }
      if (this.sources.get(block) === html) return;
      const fragment = this.purify.sanitize(html, SANITIZE);
      dropLayoutWhitespace(fragment);
      morph(block, fragment);
      // a wide table or a long line scrolls sideways: the keyboard must reach it too (set
      // after the merge, which drops it, so that it always comes last, as drawn at once)
      for (const scroller of block.querySelectorAll("table, pre > code")) scroller.tabIndex = 0;
      this.sources.set(block, html);
      for (const pre of block.querySelectorAll("pre")) {
        if (pre.querySelector(":scope > .code-copy")) continue;
        const copy = this.iconButton("copy", "Copy code", "copy-code");
        copy.classList.add("code-copy");
        copy.addEventListener("click", () => this.copy(copy, pre.querySelector("code")?.textContent ?? ""));
        pre.append(copy);
      }
    });
  }

  // What this site keeps on disk: the downloaded model, counted from its cache (the
  // browser's own total can lag a removal by minutes), and the browser's total for
  // everything (saved chats, the app and the model).
  async showStorage() {
    const shown = this.el.storage;
    const model = await savedModelBytes().catch(() => null);
    const estimate = await navigator.storage?.estimate?.().catch(() => null);
    const persisted = await navigator.storage?.persisted?.().catch(() => false);
    const parts = [model === null ? "the model: unknown" : model ? `the model ${mb(model)}` : "no downloaded model"];
    if (estimate) {
      // until the browser's total takes in a removal, take it off here
      const stale = this.removed && estimate.usage >= this.removed.usage;
      if (!stale) this.removed = null;
      const usage = stale ? estimate.usage - this.removed.bytes : estimate.usage;
      parts.push(`${mb(Math.max(usage, model ?? 0))} used in all of ${mb(estimate.quota)}`);
    }
    shown.textContent = `Storage: ${parts.join(", ")}${persisted ? ", kept until you remove it" : ""}`;
  }

  // The service worker's copy of the model (site/sw.js); the loaded model keeps working,
  // and the next visit downloads it again.
  async removeModel() {
    const bytes = await savedModelBytes().catch(() => 0);
    const offline = "Hearth downloads it again the next time it opens, so it must reach its server then.";
    if (bytes && !confirm(`Remove the downloaded model (${mb(bytes)})? ${offline}`)) return;
    const before = await navigator.storage?.estimate?.().catch(() => null);
    const removed = await caches.delete(MODEL_CACHE).catch(() => false);
    if (removed && before) this.removed = { bytes, usage: before.usage };
    this.op_banner({
      kind: "info",
      text: removed
        ? "Removed the downloaded model. It is downloaded again the next time Hearth opens."
        : "There is no downloaded model to remove.",
    });
    await this.showStorage();
  }

  async copy(button, text) {
    try {
      await navigator.clipboard.writeText(text);
      button.dataset.copied = "true";
      this.say("Copied.");
      setTimeout(() => { delete button.dataset.copied; }, 1500);
    } catch (error) {
      this.op_banner({ text: `Could not copy (${error.message}); select the text and copy it instead.` });
    }
  }

  edit(id, shown) {
    if (this.busy || shown.editing) return;
    const doc = this.doc;
    shown.editing = true;
    const previous = [...shown.content.childNodes];
    const box = Object.assign(doc.createElement("textarea"), { value: shown.text, className: "edit-box", rows: 3 });
    box.setAttribute("aria-label", "Edit your message");
    const save = Object.assign(doc.createElement("button"), { type: "button", textContent: "Save and resend", className: "primary" });
    const cancel = Object.assign(doc.createElement("button"), { type: "button", textContent: "Cancel" });
    // Enter makes a new line here, as a message being reworked often needs: say how to save
    const hint = Object.assign(doc.createElement("span"), { className: "edit-hint", id: `edit-hint-${id}`, textContent: `${MAC.test(doc.defaultView.navigator.platform) ? "⌘" : "Ctrl"}+Enter saves, Esc cancels` });
    box.setAttribute("aria-describedby", hint.id);
    const bar = doc.createElement("div");
    bar.className = "edit-actions";
    bar.append(save, cancel, hint);
    const close = () => {
      shown.editing = false;
      shown.closeEdit = null;
      shown.content.replaceChildren(...previous);
    };
    shown.closeEdit = close;
    save.addEventListener("click", () => {
      const text = box.value.trim();
      close();
      this.el.prompt.focus();
      if (text) this.emit({ type: "edit", id, text });
    });
    cancel.addEventListener("click", () => { close(); shown.element.querySelector("[data-testid=edit]")?.focus(); });
    box.addEventListener("keydown", (event) => {
      if (event.key === "Escape") { event.stopPropagation(); cancel.click(); }
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) save.click();
    });
    shown.content.replaceChildren(box, bar);
    box.focus();
  }
}

// Make `target`'s children those of `source` (sanitised nodes), touching only what differs:
// a streaming reply's last block mostly grows at its end, so its text nodes are extended in
// place. The page then re-lays out and repaints far less per redraw than for new nodes, and
// a selection in the earlier text survives. Our code-copy buttons are not content: kept.
function morph(target, source) {
  const ours = (node) => node.nodeType === 1 && node.classList.contains("code-copy");
  const children = [...target.childNodes];
  const have = children.filter((node) => !ours(node));
  const anchor = children.find(ours) ?? null;
  const want = [...source.childNodes];
  want.forEach((node, index) => {
    const old = have[index];
    if (!old) {
      target.insertBefore(node, anchor);
    } else if (old.nodeType !== node.nodeType || old.nodeName !== node.nodeName) {
      target.replaceChild(node, old);
    } else if (node.nodeType !== 1) {
      if (old.nodeValue === node.nodeValue) return;
      if (node.nodeValue.startsWith(old.nodeValue)) old.appendData(node.nodeValue.slice(old.nodeValue.length));
      else old.nodeValue = node.nodeValue;
    } else {
      for (const { name } of [...old.attributes]) if (!node.hasAttribute(name)) old.removeAttribute(name);
      for (const { name, value } of node.attributes) if (old.getAttribute(name) !== value) old.setAttribute(name, value);
      morph(old, node);
    }
  });
  for (const extra of have.slice(want.length)) extra.remove();
}

// markdown-it puts a newline after every block tag. Between blocks those text nodes only add
// stray whitespace to the message's text (and to what a screen reader reads); inside a
// paragraph a newline is a soft break and stays.
const CONTAINERS = new Set(["UL", "OL", "TABLE", "THEAD", "TBODY", "TR", "BLOCKQUOTE"]);
const BLOCKS = new Set(["P", "UL", "OL", "PRE", "BLOCKQUOTE", "TABLE", "HR", "H1", "H2", "H3", "H4", "H5", "H6"]);

function dropLayoutWhitespace(node) {
  const isBlock = (sibling) => sibling && sibling.nodeType === 1 && BLOCKS.has(sibling.tagName);
  for (const child of [...node.childNodes]) {
    if (child.nodeType === 3 && !child.nodeValue.trim()) {
      const between = node.nodeType === 11 || CONTAINERS.has(node.tagName)
        || isBlock(child.previousSibling) || isBlock(child.nextSibling);
      if (between) child.remove();
    } else if (child.nodeType === 1 && child.tagName !== "PRE") {
      dropLayoutWhitespace(child);
    }
  }
}

// Bytes of the model files kept for offline use: each entry's length as stored (both
// writers record it), else its body's size (a disk-backed blob, not read into memory).
async function savedModelBytes() {
  if (!(await caches.has(MODEL_CACHE))) return 0;
  const cache = await caches.open(MODEL_CACHE);
  let total = 0;
  for (const request of await cache.keys()) {
    const response = await cache.match(request);
    if (!response) continue;
    const length = Number(response.headers.get("content-length"));
    total += length > 0 ? length : (await response.blob()).size;
  }
  return total;
}

// A message's `commands` as code (text nodes only: a message never carries markup); text
// with an unpaired backtick shows as it is.
function withCode(doc, text) {
  const parts = text.split("`");
  if (parts.length % 2 === 0) return [text];
  return parts.map((part, i) => (i % 2 ? Object.assign(doc.createElement("code"), { textContent: part }) : part));
}

// The unsent message survives a reload (on this device only, like the chats): each tab
// keeps its own in its sessionStorage, so another tab's typing or sending neither replaces
// nor clears it, and the profile keeps the last one typed in localStorage, for a new tab.
// A tab's sent or emptied box clears the profile's copy only if it is that tab's draft. A
// browser that refuses storage only loses that.
let draftKept = null; // what this tab last put in localStorage
function keepDraft(text) {
  try {
    sessionStorage.setItem(DRAFT_KEY, text);
    if (text) {
      localStorage.setItem(DRAFT_KEY, text);
      draftKept = text;
    } else if (draftKept !== null && localStorage.getItem(DRAFT_KEY) === draftKept) {
      localStorage.removeItem(DRAFT_KEY);
      draftKept = null;
    }
  } catch {}
}

function savedDraft() {
  try {
    let text = sessionStorage.getItem(DRAFT_KEY);
    if (text === null) { // a new tab: the last draft typed, this tab's own from now on
      text = localStorage.getItem(DRAFT_KEY) ?? "";
      sessionStorage.setItem(DRAFT_KEY, text);
    }
    if (text && localStorage.getItem(DRAFT_KEY) === text) draftKept = text; // still this tab's
    return text;
  } catch {
    return "";
  }
}

function mb(bytes) {
  return `${Math.round(bytes / 1048576).toLocaleString()} MB`;
}
