// kefu's chat page: plain JavaScript, no build step, no external resources.
(() => {
  "use strict";
  const T = {
    en: {
      title: "Shop assistant", talk: "Talk to a person", send: "Send", attach: "Add photos",
      ai_note: "You are chatting with an AI assistant. It can make mistakes. Press “Talk to a person” at any time to reach the shop's staff.",
      placeholder: "Type your question, or drop / paste photos",
      hint: "Enter sends · Shift+Enter for a new line · /reset starts over",
      drop: "Drop photos to add them", you: "You", bot: "Assistant", staff: "Shop staff",
      thinking: "Thinking…", remove: "Remove photo", too_many: "At most {n} photos per message.",
      not_image: "Only photos can be added.", too_big: "A photo is too large.",
      failed: "Not sent: {e}. Please try again.", offline: "Reconnecting…",
      waiting: "You are in the queue for a person from the shop. They will reply here; the assistant stays quiet meanwhile.",
      with_staff: "A person from the shop is replying to you here.",
      photo: "photo",
    },
    zh: {
      title: "店铺客服", talk: "转人工", send: "发送", attach: "添加图片",
      ai_note: "您正在与 AI 智能客服对话，它可能会出错。随时点击“转人工”联系店铺工作人员。",
      placeholder: "输入您的问题，或拖入 / 粘贴图片",
      hint: "回车发送 · Shift+回车换行 · /reset 重新开始",
      drop: "松开即可添加图片", you: "我", bot: "智能客服", staff: "店铺工作人员",
      thinking: "正在思考…", remove: "移除图片", too_many: "每条消息最多 {n} 张图片。",
      not_image: "只能添加图片。", too_big: "图片太大了。",
      failed: "发送失败：{e}，请重试。", offline: "正在重新连接…",
      waiting: "已为您排队转接人工客服，工作人员会在这里回复您；在此期间智能客服不会回答。",
      with_staff: "店铺工作人员正在这里为您服务。",
      photo: "图片",
    },
  };
  const $ = (id) => document.getElementById(id);
  const log = $("log"), text = $("text"), files = $("files"), previews = $("previews");
  const errorBox = $("error"), banner = $("state"), drop = $("drop");
  let lang = localStorage.getItem("kefu-lang") || ((navigator.language || "").startsWith("zh") ? "zh" : "en");
  let session = { chat: "", state: "bot", max_images: 6, max_bytes: 20 * 1024 * 1024 };
  let pending = [];      // photos chosen for the next message: {file, url}
  let history = [];      // what this browser keeps across reloads
  let lastEventId = 0;
  let staffSeen = false;

  const t = (key, vars) => (T[lang][key] || T.en[key] || key).replace(/\{(\w+)\}/g, (_, k) => (vars || {})[k] ?? "");
  const storageKey = () => "kefu-chat-" + session.chat;

  function applyLanguage() {
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
    document.querySelectorAll("[data-t]").forEach((el) => { el.textContent = t(el.dataset.t); });
    document.querySelectorAll("[data-t-placeholder]").forEach((el) => { el.placeholder = t(el.dataset.tPlaceholder); });
    document.querySelectorAll("[data-t-label]").forEach((el) => { el.setAttribute("aria-label", t(el.dataset.tLabel)); });
    $("lang").textContent = lang === "zh" ? "English" : "中文";
    document.title = t("title") + " · kefu";
    showState(session.state);
    renderPreviews();
  }

  function showError(message) {
    errorBox.textContent = message;
    errorBox.hidden = !message;
  }

  function showState(state) {
    session.state = state;
    if (state !== "handoff") staffSeen = false;
    banner.hidden = state !== "handoff";
    banner.textContent = staffSeen ? t("with_staff") : t("waiting");
    document.body.dataset.state = state;
  }

  // -- the conversation ----------------------------------------------------------------------

  function bubble(entry) {
    const el = document.createElement("div");
    el.className = "msg " + entry.role;
    if (entry.kind) el.dataset.kind = entry.kind;
    const who = document.createElement("span");
    who.className = "who";
    who.textContent = t(entry.role === "customer" ? "you" : entry.role);
    el.appendChild(who);
    for (const src of entry.images || []) {
      const img = document.createElement("img");
      img.src = src;
      img.alt = t("photo");
      el.appendChild(img);
    }
    const body = document.createElement("div");
    body.className = "body";
    body.dataset.thinking = t("thinking");
    body.textContent = entry.text || "";
    el.appendChild(body);
    if (entry.buttons && entry.buttons.length) {
      const row = document.createElement("div");
      row.className = "buttons";
      for (const b of entry.buttons) {
        const button = document.createElement("button");
        button.type = "button";
        button.className = "secondary";
        button.textContent = b.label;
        button.addEventListener("click", () => sendCommand(b.command, b.label));
        row.appendChild(button);
      }
      el.appendChild(row);
    }
    return el;
  }

  function show(entry, replacing) {
    const el = bubble(entry);
    if (replacing) replacing.replaceWith(el); else log.appendChild(el);
    log.scrollTop = log.scrollHeight;
    return el;
  }

  function remember(entry) {
    history.push(entry);
    history = history.slice(-200);
    save();
  }

  function save() {
    try {
      localStorage.setItem(storageKey(), JSON.stringify({ history, lastEventId }));
    } catch (e) {  // storage full: keep the newest half
      history = history.slice(-Math.floor(history.length / 2));
      try { localStorage.setItem(storageKey(), JSON.stringify({ history, lastEventId })); } catch (_) { /* give up */ }
    }
  }

  function restore() {
    try {
      const kept = JSON.parse(localStorage.getItem(storageKey()) || "{}");
      history = kept.history || [];
      lastEventId = kept.lastEventId || 0;
    } catch (_) { history = []; lastEventId = 0; }
    history.forEach((entry) => show(entry));
  }

  // -- live events ---------------------------------------------------------------------------

  function seen(event) {
    const id = Number(event.lastEventId || 0);
    if (id > lastEventId) { lastEventId = id; save(); }
  }

  function draftElement(ref) {
    return log.querySelector(`.msg[data-ref="${CSS.escape(ref)}"]`);
  }

  function connect() {
    const source = new EventSource("/web/api/events?after=" + lastEventId);
    source.addEventListener("message", (event) => {
      const data = JSON.parse(event.data);
      const role = data.kind === "relay" ? "staff" : "bot";
      if (role === "staff" && session.state === "handoff") { staffSeen = true; showState("handoff"); }
      const entry = { role, kind: data.kind, text: data.text, images: data.images || [], buttons: data.buttons || [] };
      const draft = data.stream_ref ? draftElement(data.stream_ref) : null;
      show(entry, draft);
      remember(entry);
      seen(event);
    });
    source.addEventListener("draft", (event) => {
      const data = JSON.parse(event.data);
      let el = draftElement(data.ref);
      if (!el) {
        el = show({ role: "bot", text: "" });
        el.dataset.ref = data.ref;
        el.classList.add("thinking");
        el.setAttribute("aria-busy", "true");
      }
      el.querySelector(".body").textContent = data.text;
      log.scrollTop = log.scrollHeight;
    });
    source.addEventListener("draft_end", (event) => {
      const el = draftElement(JSON.parse(event.data).ref);
      if (!el) return;
      el.classList.remove("thinking");
      el.removeAttribute("aria-busy");
      if (!el.querySelector(".body").textContent) el.remove();
    });
    source.addEventListener("state", (event) => {
      showState(JSON.parse(event.data).state);
      seen(event);
    });
    source.onerror = () => { if (source.readyState !== EventSource.OPEN) showError(t("offline")); };
    source.onopen = () => showError("");
  }

  // -- photos ----------------------------------------------------------------------------------

  function addFiles(list) {
    showError("");
    for (const file of list) {
      if (!file.type.startsWith("image/")) { showError(t("not_image")); continue; }
      if (file.size > session.max_bytes) { showError(t("too_big")); continue; }
      if (pending.length >= session.max_images) { showError(t("too_many", { n: session.max_images })); break; }
      pending.push({ file, url: URL.createObjectURL(file) });
    }
    renderPreviews();
  }

  function renderPreviews() {
    previews.replaceChildren();
    pending.forEach((photo, index) => {
      const box = document.createElement("div");
      box.className = "preview";
      const img = document.createElement("img");
      img.src = photo.url;
      img.alt = `${t("photo")} ${index + 1}`;
      const remove = document.createElement("button");
      remove.type = "button";
      remove.textContent = "×";
      remove.setAttribute("aria-label", `${t("remove")} ${index + 1}`);
      remove.addEventListener("click", () => {
        URL.revokeObjectURL(photo.url);
        pending.splice(index, 1);
        renderPreviews();
        text.focus();
      });
      box.append(img, remove);
      previews.appendChild(box);
    });
  }

  function thumbnail(file) {  // a small copy for the history kept in this browser
    return new Promise((resolve) => {
      const img = new Image();
      img.onload = () => {
        const scale = Math.min(1, 240 / Math.max(img.width, img.height));
        const canvas = document.createElement("canvas");
        canvas.width = Math.round(img.width * scale);
        canvas.height = Math.round(img.height * scale);
        canvas.getContext("2d").drawImage(img, 0, 0, canvas.width, canvas.height);
        resolve(canvas.toDataURL("image/jpeg", 0.7));
      };
      img.onerror = () => resolve(null);
      img.src = URL.createObjectURL(file);
    });
  }

  // -- sending ---------------------------------------------------------------------------------

  const newId = () => Array.from(crypto.getRandomValues(new Uint8Array(12)), (b) => b.toString(16).padStart(2, "0")).join("");

  async function post(form, entry) {
    form.append("client_id", newId());
    show(entry);
    remember(entry);
    try {
      const response = await fetch("/web/api/messages", { method: "POST", body: form, credentials: "same-origin" });
      if (!response.ok) {
        const body = await response.json().catch(() => ({}));
        showError(t("failed", { e: body.message || body.error || response.status }));
      }
    } catch (e) {
      showError(t("failed", { e: e.message }));
    }
  }

  async function sendMessage() {
    const words = text.value.trim();
    if (!words && !pending.length) return;
    showError("");
    const form = new FormData();
    form.append("text", words);
    const photos = pending;
    pending = [];
    renderPreviews();
    photos.forEach((p) => form.append("image", p.file, p.file.name || "photo.png"));
    const thumbs = (await Promise.all(photos.map((p) => thumbnail(p.file)))).filter(Boolean);
    photos.forEach((p) => URL.revokeObjectURL(p.url));
    text.value = "";
    resize();
    await post(form, { role: "customer", text: words, images: thumbs });
  }

  function sendCommand(command, label) {
    const form = new FormData();
    form.append("command", command);
    form.append("text", label);  // the label's language is the answer's
    post(form, { role: "customer", text: label });
  }

  function resize() {
    text.style.height = "auto";
    text.style.height = Math.min(text.scrollHeight, 144) + "px";
  }

  // -- wiring ----------------------------------------------------------------------------------

  $("composer").addEventListener("submit", (e) => { e.preventDefault(); sendMessage(); });
  text.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); sendMessage(); }
  });
  text.addEventListener("input", resize);
  $("attach").addEventListener("click", () => files.click());
  files.addEventListener("change", () => { addFiles(files.files); files.value = ""; });
  $("human").addEventListener("click", () => sendCommand("human", t("talk")));
  $("lang").addEventListener("click", () => {
    lang = lang === "zh" ? "en" : "zh";
    localStorage.setItem("kefu-lang", lang);
    applyLanguage();
  });
  document.addEventListener("paste", (e) => {
    const pasted = Array.from(e.clipboardData ? e.clipboardData.files : []);
    if (pasted.length) { e.preventDefault(); addFiles(pasted); }
  });
  let dragDepth = 0;
  window.addEventListener("dragenter", (e) => { e.preventDefault(); dragDepth += 1; drop.hidden = false; });
  window.addEventListener("dragover", (e) => e.preventDefault());
  window.addEventListener("dragleave", () => { dragDepth = Math.max(0, dragDepth - 1); if (!dragDepth) drop.hidden = true; });
  window.addEventListener("drop", (e) => {
    e.preventDefault();
    dragDepth = 0;
    drop.hidden = true;
    addFiles(Array.from(e.dataTransfer ? e.dataTransfer.files : []));
  });

  async function start() {
    applyLanguage();
    try {
      const response = await fetch("/web/api/session", { credentials: "same-origin" });
      session = await response.json();
    } catch (e) {
      showError(t("failed", { e: e.message }));
      return;
    }
    restore();
    showState(session.state);
    connect();
    document.body.dataset.ready = "1";
    text.focus();
  }
  start();
})();
