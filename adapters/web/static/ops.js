// kefu's operator desk: plain JavaScript, no build step, no external resources.
(() => {
  "use strict";
  const T = {
    en: {
      desk: "Operator desk", tab_handoffs: "Handoffs", tab_conversations: "Conversations", tab_system: "System",
      tab_playground: "Playground", your_name: "Your name", sign_out: "Sign out", waiting: "Waiting", taken: "Taken",
      resolved: "Resolved", take: "Take", resolve: "Resolve", return: "Return to bot", export: "Export JSON",
      reply: "Reply", reply_placeholder: "Write to the customer (start with // for a note only staff see)",
      platform: "Platform", state: "State", queues: "Queues", engine: "Engine", knowledge: "Knowledge",
      reload: "Reload knowledge", dead_letters: "Dead letters", question: "Question",
      photos: "Photos (several, to compare products)", temperature: "Temperature", max_tokens: "Max tokens",
      ask: "Ask", raw: "Raw draft", customer_gets: "What the customer gets", why: "Decision, confidence and facts",
      none: "Nothing here.", live: "Live", reconnecting: "Reconnecting…", confidence: "confidence",
      facts: "Retrieved facts", grounding: "Grounding", reasons: "Reasons", components: "Components",
      handoff: "Handoff", by: "by", reloaded: "Reloaded", kept: "Not reloaded; the previous knowledge stays:",
      asking: "Asking…", opening: "The desk is opening this case…",
      elsewhere: "held on the desk:",
    },
    zh: {
      desk: "人工工作台", tab_handoffs: "转人工队列", tab_conversations: "会话", tab_system: "系统",
      tab_playground: "试验台", your_name: "您的名字", sign_out: "退出", waiting: "等待中", taken: "处理中",
      resolved: "已结束", take: "接手", resolve: "解决", return: "交回机器人", export: "导出 JSON",
      reply: "回复", reply_placeholder: "回复客户（以 // 开头则为仅员工可见的备注）",
      platform: "平台", state: "状态", queues: "队列", engine: "模型引擎", knowledge: "知识库",
      reload: "重新加载知识库", dead_letters: "死信", question: "问题",
      photos: "图片（可多张，用于对比商品）", temperature: "温度", max_tokens: "最大 token 数",
      ask: "提问", raw: "原始草稿", customer_gets: "客户实际收到", why: "决策、置信度与资料",
      none: "暂无。", live: "实时", reconnecting: "正在重新连接…", confidence: "置信度",
      facts: "检索到的资料", grounding: "事实核对", reasons: "原因", components: "组成",
      handoff: "转人工", by: "由", reloaded: "已重新加载", kept: "未重新加载，继续使用原知识库：",
      asking: "正在提问…", opening: "正在创建工单…",
      elsewhere: "由其他工作台处理：",
    },
  };
  const $ = (id) => document.getElementById(id);
  let lang = localStorage.getItem("kefu-lang") || ((navigator.language || "").startsWith("zh") ? "zh" : "en");
  const t = (key) => T[lang][key] || T.en[key] || key;
  let current = null;        // the open handoff: {id, conversation_id}
  let currentConversation = null;
  let queues = {};

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    Object.entries(props || {}).forEach(([k, v]) => {
      if (k === "class") node.className = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else if (k === "text") node.textContent = v;
      else node.setAttribute(k, v);
    });
    children.flat().forEach((c) => { if (c !== null && c !== undefined) node.append(c instanceof Node ? c : String(c)); });
    return node;
  }

  async function api(path, options) {
    const response = await fetch("/ops/api" + path, Object.assign({ credentials: "same-origin" }, options || {}));
    if (response.status === 401) { location.reload(); throw new Error("signed out"); }
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(body.error || String(response.status));
    return body;
  }

  const when = (iso) => (iso ? new Date(iso).toLocaleString() : "");
  const keyText = (key) => `${key.platform}${key.source ? ":" + key.source : ""} · ${key.chat_id.slice(0, 12)}${key.thread_id ? " · " + key.thread_id : ""}`;
  const operator = () => $("name").value.trim() || "operator";
  const newId = () => Array.from(crypto.getRandomValues(new Uint8Array(12)), (b) => b.toString(16).padStart(2, "0")).join("");

  function applyLanguage() {
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
    document.querySelectorAll("[data-t]").forEach((n) => { n.textContent = t(n.dataset.t); });
    document.querySelectorAll("[data-t-placeholder]").forEach((n) => { n.placeholder = t(n.dataset.tPlaceholder); });
    $("lang").textContent = lang === "zh" ? "English" : "中文";
  }

  // -- tabs ------------------------------------------------------------------------------------

  function showTab(name) {
    document.querySelectorAll(".tab").forEach((b) => b.setAttribute("aria-selected", String(b.dataset.tab === name)));
    document.querySelectorAll(".tabpanel").forEach((p) => { p.hidden = p.id !== name; });
    if (name === "conversations") loadConversations();
    if (name === "system") loadSystem();
  }

  // -- a conversation's turns with their decisions -----------------------------------------------

  function decisionBox(d) {
    const box = el("div", { class: "decision" });
    const head = el("div", {}, el("span", { class: "kind " + d.kind, text: d.kind }));
    if (d.confidence !== null && d.confidence !== undefined) head.append(` · ${t("confidence")} ${d.confidence.toFixed(2)}`);
    if (d.model) head.append(el("span", { class: "muted", text: ` · ${d.model}` }));
    box.append(head);
    if (d.components.length) {
      const table = el("table", { "aria-label": t("components") },
        el("tr", {}, el("th", { text: t("components") }), el("th", { text: "value" }), el("th", { text: "weight" }), el("th", { text: "" })));
      d.components.forEach((c) => table.append(el("tr", { class: c.name === "grounding" ? "grounding" : "" },
        el("td", { text: c.name === "grounding" ? `${c.name} (${t("grounding")})` : c.name }),
        el("td", { text: Number(c.value).toFixed(2) }), el("td", { text: Number(c.weight).toFixed(2) }),
        el("td", { text: c.detail || "" }))));
      box.append(table);
    }
    const facts = d.reasons.filter((r) => r.startsWith("fact "));
    const reasons = d.reasons.filter((r) => !r.startsWith("fact "));
    if (reasons.length) box.append(el("div", {}, el("strong", { text: d.kind === "handoff" ? t("handoff") + " · " + t("reasons") : t("reasons") }),
      el("ul", {}, reasons.map((r) => el("li", { text: r })))));
    if (facts.length) box.append(el("details", {}, el("summary", { text: `${t("facts")} (${facts.length})` }),
      el("ul", {}, facts.map((r) => el("li", { text: r.slice(5) })))));
    return box;
  }

  function renderTurns(container, detail) {
    container.replaceChildren();
    const byTurn = {};
    const loose = [];
    detail.decisions.forEach((d) => { if (d.turn_id === null) loose.push(d); else (byTurn[d.turn_id] = byTurn[d.turn_id] || []).push(d); });
    const items = [
      ...detail.turns.map((turn) => ({ at: turn.at, turn })),
      ...loose.map((d) => ({ at: d.at, decision: d })),
    ].sort((a, b) => String(a.at).localeCompare(String(b.at)));
    if (!items.length) container.append(el("p", { class: "muted", text: t("none") }));
    items.forEach((item) => {
      if (item.decision) { container.append(decisionBox(item.decision)); return; }
      const turn = item.turn;
      const node = el("div", { class: "turn " + turn.role },
        el("div", { class: "meta", text: `${turn.sender} · ${turn.role}${turn.command ? " · /" + turn.command : ""} · ${when(turn.at)}` }),
        turn.images.map((sha) => el("img", { src: `/ops/api/images/${sha}`, alt: "customer photo" })),
        el("div", { class: "text", text: turn.text }));
      (byTurn[turn.id] || []).forEach((d) => node.append(decisionBox(d)));
      container.append(node);
    });
    container.scrollTop = container.scrollHeight;
  }

  // -- handoffs --------------------------------------------------------------------------------

  async function loadQueues() {
    queues = await api("/handoffs");
    for (const name of ["waiting", "taken", "resolved"]) {
      const list = $("q-" + name);
      list.replaceChildren();
      $("count-" + name).textContent = queues[name].length;
      if (!queues[name].length) list.append(el("li", { class: "muted", text: t("none") }));
      queues[name].forEach((h) => list.append(el("li", {}, el("button", {
        class: "item", type: "button", "data-handoff": h.id, "aria-current": String(current && current.id === h.id),
        onclick: () => openCase(h),
      }, `#${h.id} · ${keyText(h.key)}`, el("small", { text: `${h.reason} · ${h.status}${h.taken_by ? " · " + h.taken_by : ""} · ${when(h.created_at)}` })))));
    }
    if (current) {
      const fresh = Object.values(queues).flat().find((h) => h.id === current.id);
      if (fresh) await openCase(fresh, true);
    }
  }

  async function openCase(h, refresh) {
    current = h;
    $("case").hidden = false;
    $("case-title").textContent = `#${h.id} · ${keyText(h.key)} · ${h.status}${h.taken_by ? " (" + h.taken_by + ")" : ""}`;
    $("case").dataset.status = h.status;
    $("case-reason").textContent = h.opened ? h.reason : `${h.reason} · ${t("opening")}`;
    $("case-export").href = `/ops/api/conversations/${h.conversation_id}/export`;
    const here = h.target === "web";  // handoffs on another desk (Slack…) are acted on there
    const active = (h.status === "open" || h.status === "taken") && (here || !h.opened);
    if (h.opened && !here) $("case-reason").textContent = `${h.reason} · ${t("elsewhere")} ${h.target}`;
    document.querySelectorAll("#case [data-action]").forEach((b) => {
      b.disabled = !active || !h.opened || (b.dataset.action === "take" && h.status !== "open");
    });
    $("reply-text").disabled = !active;
    document.querySelectorAll(".item[data-handoff]").forEach((b) => b.setAttribute("aria-current", String(Number(b.dataset.handoff) === h.id)));
    renderTurns($("case-turns"), await api(`/conversations/${h.conversation_id}`));
    if (!refresh) $("reply-text").focus();
  }

  async function act(action, text) {
    if (!current) return;
    $("case-error").hidden = true;
    try {
      await api(`/handoffs/${current.id}/${action}`, {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ name: operator(), text: text || "", client_id: newId() }),
      });
    } catch (e) {
      $("case-error").textContent = e.message;
      $("case-error").hidden = false;
    }
  }

  // -- conversations ---------------------------------------------------------------------------

  async function loadConversations() {
    const params = new URLSearchParams({ platform: $("f-platform").value, state: $("f-state").value });
    const data = await api("/conversations?" + params);
    const select = $("f-platform");
    const chosen = select.value;
    select.replaceChildren(el("option", { value: "", text: "*" }), ...data.platforms.map((p) => el("option", { value: p, text: p })));
    select.value = chosen;
    const list = $("conv-list");
    list.replaceChildren();
    if (!data.conversations.length) list.append(el("li", { class: "muted", text: t("none") }));
    data.conversations.forEach((c) => list.append(el("li", {}, el("button", {
      class: "item", type: "button", onclick: () => openConversation(c),
    }, `${keyText(c.key)} · ${c.state}`, el("small", { text: `${c.turns} turns · ${when(c.updated_at)} · ${c.last_text}` })))));
  }

  async function openConversation(c) {
    currentConversation = c;
    $("conv").hidden = false;
    $("conv-title").textContent = `${keyText(c.key)} · ${c.state}`;
    $("conv-export").href = `/ops/api/conversations/${c.id}/export`;
    renderTurns($("conv-turns"), await api(`/conversations/${c.id}`));
  }

  // -- system ----------------------------------------------------------------------------------

  function fill(dl, pairs) {
    dl.replaceChildren();
    pairs.forEach(([k, v]) => dl.append(el("dt", { text: k }), el("dd", { text: v === null || v === undefined ? "–" : String(v) })));
  }

  async function loadSystem() {
    const s = await api("/system");
    fill($("sys-queues"), Object.entries(s.queues).sort());
    const e = s.engine;
    const gpu = e.gpu ? `${e.gpu.name}: ${(e.gpu.used_bytes / 2 ** 30).toFixed(1)} / ${(e.gpu.total_bytes / 2 ** 30).toFixed(1)} GiB` : null;
    fill($("sys-engine"), [["model", e.model], ["kind", e.kind], ["device", e.device], ["GPU memory", gpu],
      ["batch size", e.max_batch_size], ["recent answers", e.recent_answers],
      ["tokens/s", e.tokens_per_second === null ? null : e.tokens_per_second.toFixed(1)]]);
    showKnowledge(s.knowledge);
    const dead = $("sys-dead");
    dead.replaceChildren();
    if (!s.dead_letters.length) dead.append(el("li", { class: "muted", text: t("none") }));
    s.dead_letters.forEach((d) => dead.append(el("li", { text: `${d.ref} · ${d.conversation} · ${d.attempts}× · ${d.error} · ${d.text}` })));
  }

  function showKnowledge(k) {
    fill($("sys-knowledge"), k ? [["folder", k.folder], ["loaded", when(k.loaded_at)], ["products", k.products], ["FAQ", k.faq], ["policies", k.policies]] : [["folder", null]]);
  }

  async function reload() {
    const result = $("reload-result");
    result.textContent = "…";
    const response = await fetch("/ops/api/knowledge/reload", { method: "POST", credentials: "same-origin" });
    const body = await response.json().catch(() => ({}));
    if (response.ok) { showKnowledge(body.knowledge); result.textContent = t("reloaded"); result.className = ""; }
    else { result.textContent = `${t("kept")} ${body.error || response.status}`; result.className = "error"; }
  }

  // -- playground ------------------------------------------------------------------------------

  async function ask(event) {
    event.preventDefault();
    $("play-error").hidden = true;
    $("play-raw").textContent = t("asking");
    $("play-final").textContent = "";
    const form = new FormData();
    form.append("client_id", newId());
    form.append("text", $("play-text").value);
    Array.from($("play-files").files).forEach((f) => form.append("image", f, f.name));
    const params = new URLSearchParams({ temperature: $("play-temp").value, max_tokens: $("play-max").value });
    try {
      const r = await api("/playground?" + params, { method: "POST", body: form });
      $("play-raw").textContent = r.raw || "–";
      $("play-final").textContent = r.customer_gets;
      const why = $("play-why");
      why.replaceChildren(decisionBox({
        kind: r.decision, confidence: r.confidence ? r.confidence.score : null,
        components: r.confidence ? r.confidence.components : [], model: null,
        reasons: [...r.reasons, ...r.facts.map((f) => `fact ${f.source} (${f.score.toFixed(2)}): ${f.text}`)],
      }));
      if (r.ocr_text) why.append(el("p", { class: "muted", text: "OCR: " + r.ocr_text }));
    } catch (e) {
      $("play-raw").textContent = "";
      $("play-error").textContent = e.message;
      $("play-error").hidden = false;
    }
  }

  // -- live updates ----------------------------------------------------------------------------

  let pendingRefresh = null;
  function refreshSoon() {
    clearTimeout(pendingRefresh);
    pendingRefresh = setTimeout(async () => {
      await loadQueues().catch(() => {});
      if (currentConversation && !$("conversations").hidden) openConversation(currentConversation).catch(() => {});
    }, 150);
  }

  function connect() {
    const source = new EventSource("/ops/api/events");
    source.addEventListener("desk", refreshSoon);
    source.onopen = () => { $("live").textContent = "● " + t("live"); refreshSoon(); };
    source.onerror = () => { $("live").textContent = t("reconnecting"); };
  }

  // -- wiring ----------------------------------------------------------------------------------

  document.querySelectorAll(".tab").forEach((b) => b.addEventListener("click", () => showTab(b.dataset.tab)));
  document.querySelectorAll("#case [data-action]").forEach((b) => b.addEventListener("click", () => act(b.dataset.action)));
  $("reply").addEventListener("submit", async (e) => {
    e.preventDefault();
    const words = $("reply-text").value.trim();
    if (!words) return;
    await act("reply", words);
    $("reply-text").value = "";
  });
  $("reply-text").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) $("reply").requestSubmit();
  });
  $("f-platform").addEventListener("change", loadConversations);
  $("f-state").addEventListener("change", loadConversations);
  $("reload").addEventListener("click", reload);
  $("play").addEventListener("submit", ask);
  $("name").value = localStorage.getItem("kefu-operator") || "";
  $("name").addEventListener("change", () => localStorage.setItem("kefu-operator", $("name").value.trim()));
  $("lang").addEventListener("click", () => { lang = lang === "zh" ? "en" : "zh"; localStorage.setItem("kefu-lang", lang); applyLanguage(); });
  applyLanguage();
  loadQueues().then(() => { document.body.dataset.ready = "1"; });
  connect();
  setInterval(refreshSoon, 10000);  // also without the event stream (a proxy that buffers it)
})();
