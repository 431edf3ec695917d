// mailrig web inbox: one page over the JSON API (Mailpit's v1 plus ours).
//
// Safety rule for this file: message data (subjects, names, addresses, file
// names, header values, links, bodies) only ever reaches the page through
// textContent, value or a checked href, never innerHTML. The HTML part is
// shown by the server at view/{ID}.html inside a sandboxed iframe without
// allow-scripts.
"use strict";

(() => {
  const PAGE_SIZE = 50;
  // Only these URL schemes become clickable links in the Links tab.
  const SAFE_LINK = /^(https?:|mailto:)/i;

  const $ = (id) => document.getElementById(id);

  const state = {
    view: { user: "", mailbox: "" }, // empty: all received messages
    query: "",
    start: 0,
    total: 0,
    items: [],          // summaries of the current page
    cursor: -1,         // index in items of the keyboard cursor
    checked: new Set(), // IDs ticked on this page
    open: null,         // the open message's full JSON
    tab: "html",
    remoteAllowed: new Set(), // message IDs whose remote images the user allowed
    users: [],
    unreadAll: 0,
  };

  // --- small helpers --------------------------------------------------------

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    if (props) {
      for (const [k, v] of Object.entries(props)) {
        if (k === "text") node.textContent = v;
        else if (k === "class") node.className = v;
        else if (k.startsWith("data-") || k.startsWith("aria-") || k === "role" || k === "title") node.setAttribute(k, v);
        else node[k] = v;
      }
    }
    for (const c of children) if (c != null) node.append(c);
    return node;
  }

  async function api(method, path, body) {
    const opts = { method, headers: {} };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    const res = await fetch(path, opts);
    const text = await res.text();
    if (!res.ok) {
      const err = new Error(`${method} ${path}: ${res.status} ${text.trim()}`);
      err.status = res.status;
      throw err;
    }
    const type = res.headers.get("Content-Type") || "";
    return type.includes("json") ? JSON.parse(text) : text;
  }

  let toastTimer = 0;
  function toast(msg) {
    const t = $("toast");
    t.textContent = msg;
    t.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { t.hidden = true; }, 4000);
  }
  function fail(err) { console.error(err); toast(String(err.message || err)); }

  function fmtSize(n) {
    if (n < 1024) return `${n} B`;
    if (n < 1024 * 1024) return `${(n / 1024).toFixed(n < 10240 ? 1 : 0)} kB`;
    return `${(n / 1024 / 1024).toFixed(1)} MB`;
  }

  function fmtTime(iso) {
    const d = new Date(iso);
    if (isNaN(d)) return "";
    const now = new Date();
    if (d.toDateString() === now.toDateString()) {
      return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
    }
    const opts = { month: "short", day: "numeric" };
    if (d.getFullYear() !== now.getFullYear()) opts.year = "numeric";
    return d.toLocaleDateString([], opts);
  }

  function fmtFull(iso) {
    const d = new Date(iso);
    if (!iso || isNaN(d) || d.getFullYear() < 1971) return "";
    return d.toLocaleString([], { dateStyle: "full", timeStyle: "long" });
  }

  function fmtAddr(a) {
    if (!a) return "";
    return a.Name ? `${a.Name} <${a.Address}>` : a.Address;
  }
  const fmtAddrs = (list) => (list || []).map(fmtAddr).join(", ");

  // The query parameters that select the current mailbox.
  function viewParams(params) {
    if (state.view.user) {
      params.set("user", state.view.user);
      params.set("mailbox", state.view.mailbox);
    }
    return params;
  }

  const msgPath = (id) => `api/v1/message/${encodeURIComponent(id)}`;

  // --- the message list -----------------------------------------------------

  // Each load is numbered, so that an answer overtaken by a later request
  // (a page turn during a live refresh) is dropped.
  let listSeq = 0;

  async function loadList() {
    const seq = ++listSeq;
    const params = viewParams(new URLSearchParams({ start: state.start, limit: PAGE_SIZE }));
    let data;
    if (state.query) {
      params.set("query", state.query);
      data = await api("GET", `api/v1/search?${params}`);
    } else {
      data = await api("GET", `api/v1/messages?${params}`);
    }
    if (seq !== listSeq) return;
    // Past the end (after deletions): step back to the last page.
    const count = state.query ? data.messages_count : data.total;
    if (data.messages.length === 0 && state.start > 0 && count > 0) {
      state.start = Math.max(0, Math.floor((count - 1) / PAGE_SIZE) * PAGE_SIZE);
      return loadList();
    }
    const cursorID = state.items[state.cursor]?.ID;
    state.items = data.messages || [];
    state.total = count;
    if (!state.view.user) state.unreadAll = data.unread; // unread counts the whole view, not the matches
    // The cursor follows its message; if that went (deleted), it stays at
    // the same place, on the next one.
    const at = state.items.findIndex((m) => m.ID === cursorID);
    if (at >= 0 || state.cursor < 0) state.cursor = at;
    else state.cursor = Math.min(state.cursor, state.items.length - 1);
    for (const id of state.checked) {
      if (!state.items.some((m) => m.ID === id)) state.checked.delete(id);
    }
    renderList();
  }

  function renderList() {
    const ul = $("messages");
    const rows = state.items.map((m, i) => messageRow(m, i));
    ul.replaceChildren(...rows);
    $("empty").hidden = state.items.length > 0;
    const first = state.items.length ? state.start + 1 : 0;
    const last = state.start + state.items.length;
    $("page-info").textContent = `${first}–${last} of ${state.total}`;
    $("prev-page").disabled = state.start === 0;
    $("next-page").disabled = last >= state.total;
    $("check-all").checked = state.items.length > 0 && state.items.every((m) => state.checked.has(m.ID));
    let title = state.view.user ? `${state.view.user} / ${state.view.mailbox}` : "All messages";
    if (state.query) title += ` · search: ${state.query}`;
    $("list-title").textContent = title;
    document.title = unreadTitle();
  }

  function unreadTitle() {
    return state.unreadAll > 0 ? `(${state.unreadAll}) mailrig inbox` : "mailrig inbox";
  }

  function messageRow(m, i) {
    const check = el("input", { type: "checkbox", class: "check", checked: state.checked.has(m.ID), "aria-label": "Select" });
    check.addEventListener("click", (ev) => {
      ev.stopPropagation();
      if (check.checked) state.checked.add(m.ID); else state.checked.delete(m.ID);
      $("check-all").checked = state.items.every((x) => state.checked.has(x.ID));
    });
    const from = el("span", { class: "from", text: m.From ? (m.From.Name || m.From.Address) : "(no sender)" });
    const to = fmtAddrs(m.To);
    if (to) from.append(el("span", { class: "to", text: ` → ${(m.To || []).map((a) => a.Name || a.Address).join(", ")}` }));
    from.title = `${fmtAddr(m.From)} → ${to}`;
    const subject = el("span", { class: "subject", text: m.Subject || "(no subject)" });
    const meta = el("span", { class: "info" });
    if (m.Attachments > 0) meta.append(el("span", { class: "clip", role: "img", title: `${m.Attachments} attachment(s)`, "aria-label": `${m.Attachments} attachment(s)` }));
    meta.append(fmtSize(m.Size));
    const time = el("time", { class: "time", text: fmtTime(m.Created), dateTime: m.Created, title: fmtFull(m.Created) });
    const li = el("li", {
      class: "msg" + (m.Read ? "" : " unread") + (i === state.cursor ? " cursor" : ""),
      role: "option",
      "data-id": m.ID,
      "aria-selected": String(state.open?.ID === m.ID),
    }, check, from, time, subject, meta, el("span", { class: "snippet", text: m.Snippet || "" }));
    li.addEventListener("click", () => { setCursor(i); openMessage(m.ID); });
    return li;
  }

  function setCursor(i) {
    if (state.items.length === 0) { state.cursor = -1; return; }
    state.cursor = Math.max(0, Math.min(i, state.items.length - 1));
    const rows = $("messages").children;
    for (let j = 0; j < rows.length; j++) rows[j].classList.toggle("cursor", j === state.cursor);
    rows[state.cursor]?.scrollIntoView({ block: "nearest" });
  }

  // IDs the toolbar acts on: the ticked ones, else the open or cursor message.
  function targetIDs() {
    if (state.checked.size) return [...state.checked];
    if (state.open && !document.body.classList.contains("no-message")) return [state.open.ID];
    const cur = state.items[state.cursor];
    return cur ? [cur.ID] : [];
  }

  async function setRead(ids, read) {
    if (!ids.length) return;
    await api("PUT", "api/v1/messages", { IDs: ids, Read: read });
    refreshSoon();
  }

  async function deleteIDs(ids) {
    if (!ids.length) return;
    await api("DELETE", "api/v1/messages", { IDs: ids });
    for (const id of ids) state.checked.delete(id);
    if (state.open && ids.includes(state.open.ID)) closeMessage();
    refreshSoon();
  }

  async function deleteAll() {
    const scope = state.query ? `every message matching “${state.query}”` :
      state.view.user ? "every message in this mailbox" : "every message";
    if (!confirm(`Delete ${scope}?`)) return;
    if (state.query) {
      await api("DELETE", `api/v1/search?${viewParams(new URLSearchParams({ query: state.query }))}`);
    } else if (state.view.user) {
      // Only what is listed here: collect the IDs page by page.
      const ids = [];
      for (let start = 0; ; start += 1000) {
        const p = viewParams(new URLSearchParams({ start, limit: 1000 }));
        const d = await api("GET", `api/v1/messages?${p}`);
        ids.push(...d.messages.map((m) => m.ID));
        if (d.messages.length < 1000) break;
      }
      if (ids.length) await api("DELETE", "api/v1/messages", { IDs: ids });
    } else {
      await api("DELETE", "api/v1/messages", {});
    }
    state.checked.clear();
    closeMessage();
    state.start = 0;
    refreshSoon();
  }

  // --- mailboxes ------------------------------------------------------------

  let mailboxSeq = 0;

  async function loadMailboxes() {
    const seq = ++mailboxSeq;
    const [users, all] = await Promise.all([
      api("GET", "api/v1/users"),
      // In a folder, the list answers for the folder: ask for the total.
      state.view.user ? api("GET", "api/v1/messages?limit=0") : null,
    ]);
    if (seq !== mailboxSeq) return;
    state.users = users || [];
    if (all) state.unreadAll = all.unread;
    renderMailboxes();
  }

  const isCurrent = (view) => state.view.user === view.user && state.view.mailbox === view.mailbox;

  // mailboxButton shows the unread count, or else the number of messages.
  function mailboxButton(label, unread, total, view) {
    const b = el("button", { type: "button", "aria-current": String(isCurrent(view)) },
      el("span", { class: "name", text: label }),
      unread > 0 ? el("span", { class: "count", text: String(unread), title: `${unread} unread` }) :
        total > 0 ? el("span", { class: "total", text: String(total), title: `${total} messages` }) : null);
    b.dataset.user = view.user;
    b.dataset.mailbox = view.mailbox;
    b.addEventListener("click", () => selectView(view));
    return b;
  }

  function renderMailboxes() {
    const items = [el("li", null, mailboxButton("All messages", state.unreadAll, 0, { user: "", mailbox: "" }))];
    for (const u of state.users) {
      // Every INBOX; other folders once they hold mail (or are showing).
      const folders = (u.Mailboxes || [])
        .filter((mb) => mb.Name === "INBOX" || mb.Messages > 0 || isCurrent({ user: u.Address, mailbox: mb.Name }))
        .map((mb) => el("li", null, mailboxButton(mb.Name, mb.Unread, mb.Messages, { user: u.Address, mailbox: mb.Name })));
      items.push(el("li", null, el("div", { class: "user", text: u.Address, title: (u.Aliases || []).join(", ") }), el("ul", null, ...folders)));
    }
    $("mailboxes").replaceChildren(...items);
    document.title = unreadTitle();
  }

  function selectView(view) {
    state.view = view;
    state.start = 0;
    state.cursor = -1;
    state.checked.clear();
    document.body.classList.remove("drawer-open");
    $("menu-toggle").setAttribute("aria-expanded", "false");
    renderMailboxes();
    loadList().catch(fail);
  }

  // --- the message view -----------------------------------------------------

  async function openMessage(id) {
    let m;
    try {
      m = await api("GET", msgPath(id)); // marks it read, as Mailpit does
    } catch (err) { fail(err); return; }
    const sameMessage = state.open?.ID === m.ID;
    m.copyUsers = [...new Set((m.Copies || []).map((c) => c.User))];
    state.open = m;
    document.body.classList.remove("no-message");
    document.body.classList.add("show-message");
    $("viewer").hidden = false;
    renderMessage(sameMessage);
    for (const li of $("messages").children) li.setAttribute("aria-selected", String(li.dataset.id === m.ID));
    refreshSoon();
  }

  function closeMessage() {
    state.open = null;
    document.body.classList.add("no-message");
    document.body.classList.remove("show-message");
    $("viewer").hidden = true;
    $("html-frame").removeAttribute("src");
    for (const li of $("messages").children) li.setAttribute("aria-selected", "false");
  }

  function metaRow(dl, label, value, cls) {
    if (!value) return;
    dl.append(el("dt", { text: label }), el("dd", { text: value, class: cls || "" }));
  }

  // renderMessage fills the view; keepTab keeps the current tab (a refresh of
  // the same message) instead of picking the best one.
  function renderMessage(keepTab) {
    const m = state.open;
    $("m-subject").textContent = m.Subject || "(no subject)";
    const dl = $("m-meta");
    dl.replaceChildren();
    metaRow(dl, "From", fmtAddr(m.From));
    metaRow(dl, "To", fmtAddrs(m.To));
    metaRow(dl, "Cc", fmtAddrs(m.Cc));
    metaRow(dl, "Bcc", bccOf(m), "bcc");
    metaRow(dl, "Reply-To", fmtAddrs(m.ReplyTo));
    metaRow(dl, "Date", fmtFull(m.Date));
    if (m.Created && Math.abs(new Date(m.Created) - new Date(m.Date)) > 60000) metaRow(dl, "Received", fmtFull(m.Created));
    metaRow(dl, "Size", fmtSize(m.Size));
    $("view-toggle-read").textContent = isRead(m) ? "Mark unread" : "Mark read";
    $("view-raw-download").href = `${msgPath(m.ID)}/raw?dl=1`;
    $("view-raw-download").download = `${m.ID}.eml`;

    const parts = [...(m.Attachments || []), ...(m.Inline || [])];
    $("m-attachments").replaceChildren(...parts.map((p) => {
      const a = el("a", { href: `${msgPath(m.ID)}/part/${encodeURIComponent(p.PartID)}`, download: p.FileName || `part-${p.PartID}` },
        el("span", { class: "clip", "aria-hidden": "true" }),
        el("span", { class: "fname", text: p.FileName || "(unnamed)" }),
        el("span", { class: "size", text: `${p.ContentType} · ${fmtSize(p.Size)}` }));
      a.title = p.FileName || "";
      return el("li", null, a);
    }));

    for (const b of $("tabs").children) {
      const t = b.dataset.tab;
      b.disabled = (t === "html" && !m.HTML) || (t === "text" && !m.Text);
    }
    if (!keepTab || $(`panel-${state.tab}`).hidden) {
      state.tab = m.HTML ? "html" : "text";
    }
    if (!keepTab) {
      showHTML(m);
    }
    showTab(state.tab, !keepTab);
  }

  // Bcc: Mailpit lists the envelope recipients that are not in To or Cc.
  function bccOf(m) {
    if (m.Bcc && m.Bcc.length) return fmtAddrs(m.Bcc);
    const shown = new Set([...(m.To || []), ...(m.Cc || [])].map((a) => a.Address.toLowerCase()));
    const hidden = (m.Envelope?.Rcpts || []).filter((r) => !shown.has(r.toLowerCase()));
    return hidden.join(", ");
  }

  function isRead(m) {
    if (typeof m.Read === "boolean") return m.Read;
    const s = state.items.find((x) => x.ID === m.ID);
    return s ? s.Read : true;
  }

  // A remote resource: an http(s) or protocol-relative URL in src, srcset,
  // background or CSS url(). Good enough to decide whether to offer the button.
  const REMOTE = /(?:src|srcset|background|poster)\s*=\s*["']?\s*(?:https?:)?\/\/|url\(\s*["']?\s*(?:https?:)?\/\//i;

  function showHTML(m) {
    const frame = $("html-frame");
    if (!m.HTML) { frame.removeAttribute("src"); $("remote-notice").hidden = true; return; }
    const allowed = state.remoteAllowed.has(m.ID);
    $("remote-notice").hidden = allowed || !REMOTE.test(m.HTML);
    delete frame.dataset.loaded;
    frame.src = `view/${encodeURIComponent(m.ID)}.html${allowed ? "?remote=1" : ""}`;
  }

  function showTab(tab, reload) {
    state.tab = tab;
    for (const b of $("tabs").children) b.setAttribute("aria-selected", String(b.dataset.tab === tab));
    for (const p of document.querySelectorAll(".panel")) p.hidden = p.id !== `panel-${tab}`;
    fillTab(tab, reload).catch(fail);
  }

  async function fillTab(tab, reload) {
    const m = state.open;
    if (!m) return;
    switch (tab) {
      case "text":
        $("panel-text").textContent = m.Text || "";
        break;
      case "headers": {
        const h = await api("GET", `${msgPath(m.ID)}/headers`);
        const rows = [];
        for (const name of Object.keys(h).sort()) {
          for (const v of h[name]) rows.push(el("tr", null, el("th", { text: name }), el("td", { class: "mono", text: v })));
        }
        $("headers-table").replaceChildren(...rows);
        break;
      }
      case "raw":
        $("panel-raw").textContent = await api("GET", `${msgPath(m.ID)}/raw`);
        break;
      case "envelope": {
        const e = m.Envelope || {};
        const rows = [
          ["MAIL FROM", e.MailFrom === "" ? "<> (null sender)" : e.MailFrom],
          ["RCPT TO", (e.Rcpts || []).join("\n")],
          ["Bcc (not in headers)", bccOf(m)],
          ["HELO", e.Helo],
          ["TLS", e.TLS ? "yes" : "no"],
          ["AUTH", e.AuthUser || m.Username || "(none)"],
          ["Client", e.RemoteAddr],
          ["Session", e.SessionID],
          ["Return-Path", m.ReturnPath],
        ];
        $("envelope-table").replaceChildren(...rows.filter((r) => r[1] != null && r[1] !== "").map(([k, v]) =>
          el("tr", null, el("th", { text: k }), el("td", { class: "mono", text: v, style: "white-space: pre-line" }))));
        break;
      }
      case "links": {
        const links = m.Links || [];
        const items = links.map((href) => {
          // Only http(s) and mailto become links; anything else (javascript:,
          // data:, ...) is shown as text.
          if (SAFE_LINK.test(href.trim())) {
            return el("li", null, el("a", { href: href.trim(), text: href, target: "_blank", rel: "noopener noreferrer" }));
          }
          return el("li", null, el("code", { text: href }), el("span", { class: "muted", text: " (not a web link)" }));
        });
        $("links-list").replaceChildren(...(items.length ? items : [el("li", { class: "muted", text: "No links." })]));
        break;
      }
      case "transcript": {
        const pre = $("panel-transcript");
        if (!reload && pre.dataset.id === m.ID) break;
        pre.dataset.id = m.ID;
        pre.textContent = "Loading…";
        let tr;
        try {
          tr = await api("GET", `${msgPath(m.ID)}/transcript`);
        } catch (err) {
          pre.textContent = `No SMTP transcript for this message (${err.message}). Messages filed over IMAP or by a test have none, and old sessions are dropped.`;
          break;
        }
        const lines = [el("span", { class: "t", text: `${tr.Protocol} session ${tr.ID} from ${tr.RemoteAddr}, ${fmtFull(tr.Start)}${tr.Truncated ? " (truncated)" : ""}\n` })];
        for (const l of tr.Lines || []) {
          lines.push(el("span", { class: l.FromClient ? "c" : "s", text: `${l.FromClient ? "C: " : "S: "}${l.Text}\n` }));
        }
        pre.replaceChildren(...lines);
        break;
      }
      case "copies": {
        const copies = m.Copies || [];
        const rows = copies.map((c) => el("tr", null,
          el("td", { text: c.User }),
          el("td", { text: c.Mailbox }),
          el("td", { class: "mono", text: String(c.UID) }),
          el("td", { class: "mono", text: (c.Flags || []).join(" ") || "(none)" }),
          el("td", { text: c.POP3 ? "would download" : "no (not in INBOX)" })));
        if (!rows.length) rows.push(el("tr", null, el("td", { colSpan: 5, class: "muted", text: "No copy in any mailbox (deleted, or addressed to no known user)." })));
        $("copies-table").tBodies[0].replaceChildren(...rows);
        break;
      }
    }
  }

  // --- live updates ---------------------------------------------------------

  // refreshSoon coalesces bursts of events into one reload of the list, the
  // mailbox counts and the open message, at most one in flight at a time.
  let refreshTimer = 0, refreshing = false, refreshAgain = false;
  function refreshSoon() {
    if (refreshing) { refreshAgain = true; return; }
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(refresh, 60);
  }

  async function refresh() {
    refreshing = true;
    try {
      await Promise.all([loadList(), loadMailboxes(), loadFaults()]);
      await reloadOpen();
    } catch (err) {
      fail(err);
    } finally {
      refreshing = false;
      if (refreshAgain) { refreshAgain = false; refreshSoon(); }
    }
  }

  // reloadOpen follows the open message's read state (from the list just
  // loaded) and, when its tab shows, its copies. It never GETs the message
  // again: that would mark it read behind the user's (or an IMAP client's)
  // back.
  async function reloadOpen() {
    const m = state.open;
    if (!m) return;
    const s = state.items.find((x) => x.ID === m.ID);
    if (s) m.Read = s.Read;
    $("view-toggle-read").textContent = isRead(m) ? "Mark unread" : "Mark read";
    if (state.tab !== "copies") return;
    const copies = await freshCopies(m);
    if (state.open !== m) return;
    m.Copies = copies;
    fillTab("copies").catch(fail);
  }

  // freshCopies reads where the message is filed now from the IMAP and POP3
  // views of the users that got a copy: a copy moves between one user's
  // mailboxes, never to another user.
  async function freshCopies(m) {
    const copies = [];
    for (const user of m.copyUsers) {
      const path = `api/v1/users/${encodeURIComponent(user)}`;
      let imapView, pop3View;
      try {
        [imapView, pop3View] = await Promise.all([api("GET", `${path}/imap`), api("GET", `${path}/pop3`)]);
      } catch {
        continue; // the user is gone
      }
      const inPOP3 = (pop3View.Messages || []).some((x) => x.ID === m.ID);
      for (const mb of imapView.Mailboxes || []) {
        for (const x of mb.Messages || []) {
          if (x.ID === m.ID) copies.push({ User: imapView.User, Mailbox: mb.Name, UID: x.UID, Flags: x.Flags, POP3: inPOP3 && mb.Name === "INBOX" });
        }
      }
    }
    return copies;
  }

  let socket = null, backoff = 250, connects = 0;
  function connect() {
    const url = new URL("api/events", location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    const live = $("live");
    socket = new WebSocket(url);
    socket.addEventListener("open", () => {
      backoff = 250;
      live.dataset.state = "open";
      live.dataset.connects = String(++connects);
      live.title = "Live updates: connected";
      refreshSoon(); // whatever changed while we were away
    });
    socket.addEventListener("message", (ev) => {
      let e;
      try { e = JSON.parse(ev.data); } catch { return; }
      if (e.Type === "error") return;
      refreshSoon();
    });
    socket.addEventListener("close", () => {
      live.dataset.state = "closed";
      live.title = "Live updates: reconnecting…";
      setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, 3000);
    });
  }

  // --- faults ---------------------------------------------------------------

  // Faults change without a store event (a test injects one, one with
  // Times runs out), so the list is re-read: every second while the panel
  // is open or faults are set, else every few seconds.
  let faultTimer = 0;
  function pollFaults(active) {
    clearTimeout(faultTimer);
    faultTimer = setTimeout(() => loadFaults().catch(() => pollFaults(false)), active ? 1000 : 3000);
  }

  async function loadFaults() {
    const faults = await api("GET", "api/v1/faults") || [];
    pollFaults(faults.length > 0 || $("faults").open);
    const count = $("faults-count");
    count.textContent = String(faults.length);
    count.hidden = faults.length === 0;
    $("faults-empty").hidden = faults.length > 0;
    $("faults-table").hidden = faults.length === 0;
    $("faults-table").tBodies[0].replaceChildren(...faults.map((f) => {
      const action = [];
      if (f.Delay && f.Delay !== "0s") action.push(`wait ${f.Delay}`);
      if (f.Drop) action.push("drop");
      else if (f.DropAfterBytes > 0) action.push(`drop after ${f.DropAfterBytes} octets`);
      else if (f.Reply) action.push(f.Reply);
      const clear = el("button", { type: "button", text: "Clear" });
      clear.addEventListener("click", () => api("DELETE", `api/v1/faults?id=${encodeURIComponent(f.ID)}`).then(refreshSoon, fail));
      return el("tr", null,
        el("td", { class: "mono", text: `${f.Protocol} ${f.Command}${f.Arg ? ` “${f.Arg}”` : ""}` }),
        el("td", { text: f.Times ? String(f.Times) : "∞", title: f.Times ? "acts this many more times" : "until cleared" }),
        el("td", { class: "mono", text: action.join(", ") }),
        el("td", null, clear));
    }));
  }

  async function injectFault(ev) {
    ev.preventDefault();
    const form = ev.target;
    const fd = new FormData(form);
    const f = {
      Protocol: fd.get("Protocol"),
      Command: String(fd.get("Command")).trim().toUpperCase(),
      Arg: String(fd.get("Arg")).trim(),
      Times: Number(fd.get("Times")) || 0,
      Reply: String(fd.get("Reply")).trim(),
      Delay: String(fd.get("Delay")).trim(),
      Drop: fd.get("Drop") === "on",
      DropAfterBytes: Number(fd.get("DropAfterBytes")) || 0,
    };
    const errBox = $("fault-error");
    try {
      await api("POST", "api/v1/faults", f);
      errBox.hidden = true;
      form.elements.Command.value = "";
      form.elements.Arg.value = "";
      form.elements.Reply.value = "";
      await loadFaults();
    } catch (err) {
      errBox.textContent = err.message;
      errBox.hidden = false;
    }
  }

  // --- keyboard and wiring --------------------------------------------------

  function typing(ev) {
    const t = ev.target;
    return t instanceof HTMLInputElement || t instanceof HTMLTextAreaElement || t instanceof HTMLSelectElement || t.isContentEditable;
  }

  function onKey(ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if ($("faults").open) return;
    if (ev.key === "Escape") {
      if (document.activeElement === $("search")) { $("search").blur(); return; }
      if (document.body.classList.contains("drawer-open")) { document.body.classList.remove("drawer-open"); return; }
      if (state.open) { closeMessage(); $("messages").focus(); }
      return;
    }
    if (typing(ev)) return;
    switch (ev.key) {
      case "j": case "ArrowDown":
        setCursor(state.cursor + 1); break;
      case "k": case "ArrowUp":
        setCursor(state.cursor < 0 ? 0 : state.cursor - 1); break;
      case "Enter":
        if (ev.target instanceof HTMLButtonElement || ev.target instanceof HTMLAnchorElement) return;
        if (state.items[state.cursor]) openMessage(state.items[state.cursor].ID);
        break;
      case "Delete": case "Backspace":
        deleteIDs(targetIDs()).catch(fail); break;
      case "/":
        $("search").focus(); $("search").select(); break;
      default:
        return;
    }
    ev.preventDefault();
  }

  function wire() {
    document.body.classList.add("no-message");
    // data-loaded tells (tests, mostly) which document the frame finished loading.
    $("html-frame").addEventListener("load", (ev) => { ev.target.dataset.loaded = ev.target.getAttribute("src") || ""; });
    document.addEventListener("keydown", onKey);
    $("search-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      state.query = $("search").value.trim();
      state.start = 0;
      state.cursor = -1;
      loadList().catch(fail);
    });
    $("search").addEventListener("search", () => { // the field's clear button
      if ($("search").value === "" && state.query) { state.query = ""; state.start = 0; loadList().catch(fail); }
    });
    $("prev-page").addEventListener("click", () => { state.start = Math.max(0, state.start - PAGE_SIZE); state.cursor = -1; loadList().catch(fail); });
    $("next-page").addEventListener("click", () => { state.start += PAGE_SIZE; state.cursor = -1; loadList().catch(fail); });
    $("check-all").addEventListener("change", (ev) => {
      for (const m of state.items) { if (ev.target.checked) state.checked.add(m.ID); else state.checked.delete(m.ID); }
      renderList();
    });
    $("mark-read").addEventListener("click", () => setRead(targetIDs(), true).catch(fail));
    $("mark-unread").addEventListener("click", () => setRead(targetIDs(), false).catch(fail));
    $("delete").addEventListener("click", () => deleteIDs(targetIDs()).catch(fail));
    $("delete-all").addEventListener("click", () => deleteAll().catch(fail));
    $("back").addEventListener("click", closeMessage);
    $("view-delete").addEventListener("click", () => state.open && deleteIDs([state.open.ID]).catch(fail));
    $("view-toggle-read").addEventListener("click", () => {
      const m = state.open;
      if (!m) return;
      const read = !isRead(m);
      m.Read = read;
      setRead([m.ID], read).catch(fail);
      $("view-toggle-read").textContent = read ? "Mark unread" : "Mark read";
    });
    $("allow-remote").addEventListener("click", () => {
      if (!state.open) return;
      state.remoteAllowed.add(state.open.ID);
      showHTML(state.open);
    });
    for (const b of $("tabs").children) {
      b.addEventListener("click", () => {
        showTab(b.dataset.tab, false);
        if (b.dataset.tab === "copies") reloadOpen().catch(fail);
      });
    }
    // A tap outside the open drawer closes it.
    $("layout").addEventListener("click", (ev) => {
      if (document.body.classList.contains("drawer-open") && !$("sidebar").contains(ev.target)) {
        document.body.classList.remove("drawer-open");
        $("menu-toggle").setAttribute("aria-expanded", "false");
      }
    });
    $("menu-toggle").addEventListener("click", () => {
      const open = document.body.classList.toggle("drawer-open");
      $("menu-toggle").setAttribute("aria-expanded", String(open));
    });
    $("faults-open").addEventListener("click", () => { $("faults").showModal(); loadFaults().catch(fail); });
    $("fault-form").addEventListener("submit", injectFault);
    $("faults-clear").addEventListener("click", () => api("DELETE", "api/v1/faults").then(loadFaults, fail));
  }

  wire();
  refresh();
  connect();
})();
