// The renderer: the only code that touches the DOM. Python (in the worker) decides what the
// page shows and sends commands ({op: ...}, see pyapp/view.py); this applies them. What the
// user does goes back as events ({type: ...}, handled by pyapp/app.py).

const STICK_PX = 48; // within this distance of the bottom, new text keeps the list scrolled down

export class Renderer {
  constructor(doc, emit) {
    this.doc = doc;
    this.emit = emit;
    const $ = (id) => doc.getElementById(id);
    this.el = {
      status: $("status"), banner: $("error"), bannerText: $("error-text"),
      bannerAction: $("error-action"), bannerClose: $("error-close"), version: $("version"),
      messages: $("messages"), prompt: $("prompt"), send: $("send"), stop: $("stop"),
      backend: $("backend"), model: $("model"), newChat: $("new-chat"), composer: $("composer"),
    };
    this.settings = [...doc.querySelectorAll("[data-setting]")];
    this.shown = new Map(); // message id -> element
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
    el.prompt.addEventListener("input", () => this.fitPrompt());
    this.doc.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && !el.stop.disabled) emit({ type: "stop" });
    });
    el.stop.addEventListener("click", () => emit({ type: "stop" }));
    el.backend.addEventListener("change", () => emit({ type: "backend", value: el.backend.value }));
    el.model.addEventListener("change", () => emit({ type: "model", value: el.model.value }));
    el.newChat.addEventListener("click", () => emit({ type: "new_chat" }));
    el.bannerAction.addEventListener("click", () => { el.banner.hidden = true; emit({ type: "banner_action" }); });
    el.bannerClose.addEventListener("click", () => { el.banner.hidden = true; });
    for (const input of this.settings) {
      input.addEventListener("change", () => emit({ type: "setting", name: input.dataset.setting, value: input.value }));
    }
  }

  send() {
    const { prompt, send } = this.el;
    if (send.disabled || !prompt.value.trim()) return;
    this.emit({ type: "send", text: prompt.value });
  }

  // The composer grows with its text up to about eight lines, then scrolls.
  fitPrompt() {
    const prompt = this.el.prompt;
    prompt.style.height = "auto";
    prompt.style.height = `${Math.min(prompt.scrollHeight + 2, 8 * 24)}px`;
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

  op_banner({ text, action }) {
    const { banner, bannerText, bannerAction } = this.el;
    bannerText.textContent = text;
    bannerAction.hidden = !action;
    if (action) bannerAction.textContent = action;
    banner.hidden = false;
  }

  op_banner_hide() {
    this.el.banner.hidden = true;
  }

  op_controls({ busy, ready }) {
    const { prompt, send, stop, backend, model, newChat } = this.el;
    prompt.disabled = false;
    send.disabled = busy || !ready;
    stop.disabled = !busy;
    backend.disabled = model.disabled = newChat.disabled = busy;
  }

  op_backend({ value }) {
    this.el.backend.value = value;
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

  op_settings({ values }) {
    for (const input of this.settings) {
      if (input.dataset.setting in values) input.value = values[input.dataset.setting];
    }
  }

  op_prompt({ text }) {
    this.el.prompt.value = text;
    this.fitPrompt();
    this.el.prompt.focus();
  }

  op_messages({ items }) {
    this.shown.clear();
    this.el.messages.replaceChildren();
    for (const item of items) this.op_message({ item });
  }

  op_message({ item }) {
    const list = this.el.messages;
    const stick = list.scrollHeight - list.scrollTop - list.clientHeight < STICK_PX;
    let element = this.shown.get(item.id);
    if (!element) {
      element = this.doc.createElement("div");
      element.dataset.testid = "message";
      element.dataset.id = item.id;
      element.dataset.role = item.role;
      list.appendChild(element);
      this.shown.set(item.id, element);
    }
    element.textContent = item.text;
    for (const [key, value] of Object.entries(item.data || {})) element.dataset[key] = value;
    const state = item.state;
    if (state === "stopped") element.dataset.stopped = "true";
    if (state === "interrupted") element.dataset.interrupted = "true";
    // data-done last: tests and the benchmark wait for it, and then read the figures above
    element.dataset.done = String(state !== "streaming");
    if (stick) list.scrollTop = list.scrollHeight;
  }

  op_remove({ ids }) {
    for (const id of ids) {
      this.shown.get(id)?.remove();
      this.shown.delete(id);
    }
  }
}
