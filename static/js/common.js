// Shared helpers of livechat's pages: API calls, the chatbot style, a
// reconnecting websocket, and the message list of the chat windows.
// User text is only ever inserted with textContent.

/**
 * Calls the JSON API. Never throws for HTTP errors.
 * @param {string} method
 * @param {string} url
 * @param {object|FormData} [body]
 * @returns {Promise<{ok: boolean, status: number, data: any}>}
 */
export async function api(method, url, body) {
  const opts = { method, headers: { Accept: 'application/json' }, credentials: 'same-origin' };
  if (body instanceof FormData) {
    opts.body = body;
  } else if (body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(url, opts);
  } catch (e) {
    return { ok: false, status: 0, data: { detail: 'Could not reach the server. Check your connection.' } };
  }
  let data = {};
  const type = res.headers.get('Content-Type') || '';
  if (type.includes('json')) {
    try { data = await res.json(); } catch (e) { data = {}; }
  }
  return { ok: res.ok, status: res.status, data };
}

/**
 * api() for the signed-in pages. A 401 means the session has ended (signed
 * out in another tab, the password changed elsewhere): go and sign in again.
 */
export async function adminApi(method, url, body) {
  const res = await api(method, url, body);
  if (res.status === 401) location.href = '/signin';
  return res;
}

/** Field → CSS custom property of the chat window (chat.css). */
const styleVars = {
  headerBackgroundColor: '--header-bg',
  headerTextColor: '--header-fg',
  introductionBackgroundColor: '--intro-bg',
  introductionTextColor: '--intro-fg',
  receiverBackground: '--recv-bg',
  receiverTextColor: '--recv-fg',
  senderBackground: '--send-bg',
  senderTextColor: '--send-fg',
  background_color: '--bg',
  inputBarBackground: '--input-bg',
  inputTextColor: '--input-fg',
};

export const colorRE = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i;

/**
 * Applies a Chatbot (colours, name, introduction, picture) to a chat
 * window element (.lcw). Colours go through the CSSOM, which a strict CSP
 * allows.
 * @param {HTMLElement} root
 * @param {object} c the Chatbot
 */
export function applyChatbotStyle(root, c) {
  for (const [field, prop] of Object.entries(styleVars)) {
    if (typeof c[field] === 'string' && colorRE.test(c[field])) root.style.setProperty(prop, c[field]);
  }
  const name = root.querySelector('.lcw-name');
  if (name && typeof c.chatbotName === 'string') name.textContent = c.chatbotName;
  const intro = root.querySelector('.lcw-intro');
  if (intro && typeof c.introductionText === 'string') intro.textContent = c.introductionText;
  const img = root.querySelector('img.lcw-avatar');
  const letter = root.querySelector('div.lcw-avatar');
  // The first character, not UTF-16 unit (an emoji is two), like the
  // server's initial.
  if (letter) letter.textContent = [...(c.chatbotName || '?').trim()][0] || '?';
  if (img) {
    if (c.bot_picture) {
      if (img.getAttribute('src') !== c.bot_picture) img.src = c.bot_picture;
      img.hidden = false;
      if (letter) letter.hidden = true;
    } else {
      img.hidden = true;
      img.removeAttribute('src');
      if (letter) letter.hidden = false;
    }
  }
}

/** Wires every sign-out button on the page. */
export function bindSignout() {
  for (const b of document.querySelectorAll('.js-signout')) {
    b.addEventListener('click', async () => {
      b.disabled = true;
      await api('POST', '/accounts/api/logout');
      location.href = '/';
    });
  }
}

/** @returns {string} a random UUID (v4), also outside secure contexts. */
export function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * A websocket that reconnects by itself with exponential backoff and
 * jitter. Frames sent while it is down are dropped (send returns false);
 * callers refetch in onopen.
 */
export class ReconnectingSocket {
  /**
   * @param {string} path e.g. "/ws/room/alice"
   * @param {{onopen?: Function, onmessage?: Function, onstatus?: Function}} handlers
   */
  constructor(path, handlers) {
    this.url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + path;
    this.h = handlers;
    this.attempt = 0;
    this.closed = false;
    this.ws = null;
    this.timer = 0;
    this.online = false;
    this.everTried = false;
    this.openedAt = 0;
    this.onWake = () => { if (!this.online && !this.closed) this.retryNow(); };
    window.addEventListener('online', this.onWake);
    this.dial();
  }

  dial() {
    if (this.closed) return;
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch (e) {
      this.schedule();
      return;
    }
    this.ws = ws;
    ws.addEventListener('open', () => {
      this.openedAt = Date.now();
      this.setOnline(true);
      if (this.h.onopen) this.h.onopen();
    });
    ws.addEventListener('message', (ev) => {
      let msg;
      try { msg = JSON.parse(ev.data); } catch (e) { return; }
      // Every server frame is an object with a "command"; ignore the rest.
      if (!msg || typeof msg !== 'object' || typeof msg.command !== 'string') return;
      if (this.h.onmessage) this.h.onmessage(msg);
    });
    ws.addEventListener('close', () => {
      if (this.ws !== ws) return;
      this.ws = null;
      // Back off from the start again only after a connection that held;
      // one the server drops at once keeps backing off.
      if (this.openedAt && Date.now() - this.openedAt > 5000) this.attempt = 0;
      this.openedAt = 0;
      this.setOnline(false);
      this.schedule();
    });
  }

  setOnline(on) {
    const first = !this.everTried;
    this.everTried = true;
    if (this.online === on && !first) return;
    this.online = on;
    if (this.h.onstatus) this.h.onstatus(on);
  }

  schedule() {
    if (this.closed) return;
    const base = Math.min(15000, 500 * 2 ** this.attempt);
    this.attempt++;
    const delay = base / 2 + Math.random() * base / 2;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.dial(), delay);
  }

  /**
   * Drops the connection and dials again after a short backoff, without
   * showing the offline state (the server then starts afresh, e.g. makes a
   * new room for a deleted one). onopen runs again.
   */
  reconnect() {
    if (!this.ws || this.closed) return;
    const ws = this.ws;
    this.ws = null;
    ws.close(1000);
    if (this.openedAt && Date.now() - this.openedAt > 5000) this.attempt = 0;
    this.openedAt = 0;
    this.schedule();
  }

  retryNow() {
    clearTimeout(this.timer);
    if (!this.ws) this.dial();
  }

  /** @returns {boolean} whether the frame went out */
  send(obj) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(obj));
    return true;
  }

  close() {
    this.closed = true;
    clearTimeout(this.timer);
    window.removeEventListener('online', this.onWake);
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.close(1000);
    }
  }
}

/**
 * @returns {boolean} whether m has the shape of SPEC's Message (as far as
 * the pages use it); anything else from a socket is ignored.
 */
export function isMessage(m) {
  return !!m && typeof m === 'object' && Number.isSafeInteger(m.id) && typeof m.content === 'string' &&
    typeof m.author === 'string' && typeof m.room === 'string';
}

/** @returns {string} a short local time like "14:05" (or a date for older). */
export function formatTime(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const now = new Date();
  const time = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  if (d.toDateString() === now.toDateString()) return time;
  return d.toLocaleDateString([], { month: 'short', day: 'numeric' }) + ' ' + time;
}

const urlRE = /\bhttps?:\/\/[^\s<>"']+[^\s<>"'.,;:!?)\]]/g;

/** Appends text to el, turning http(s) links into anchors. */
function appendLinkified(el, text) {
  let last = 0;
  for (const m of text.matchAll(urlRE)) {
    if (m.index > last) el.append(text.slice(last, m.index));
    const a = document.createElement('a');
    a.href = m[0];
    a.textContent = m[0];
    a.target = '_blank';
    a.rel = 'noopener noreferrer nofollow';
    el.append(a);
    last = m.index + m[0].length;
  }
  if (last < text.length) el.append(text.slice(last));
}

/**
 * @returns {boolean} whether a message's file URL is one of ours: the
 * server only ever sends same-origin /files/ paths, and nothing else is
 * shown as a link or image.
 */
function fileURL(u) {
  if (typeof u !== 'string') return false;
  try {
    const p = new URL(u, location.href);
    return p.origin === location.origin && p.pathname.startsWith('/files/');
  } catch (e) {
    return false;
  }
}

/** Fills a bubble with a message's content: text, image or file link. */
export function fillBubble(bubble, m) {
  bubble.textContent = '';
  if (m.file && fileURL(m.file)) {
    if (typeof m.type === 'string' && m.type.startsWith('image/') && m.type !== 'image/svg+xml') {
      const a = document.createElement('a');
      a.href = m.file;
      a.target = '_blank';
      a.rel = 'noopener';
      const img = document.createElement('img');
      img.src = m.file;
      img.alt = m.content || 'image';
      img.loading = 'lazy';
      a.append(img);
      bubble.append(a);
    } else {
      const a = document.createElement('a');
      a.className = 'lcw-file';
      a.href = m.file;
      a.download = m.content || '';
      a.textContent = m.content || 'file';
      bubble.append(a);
    }
    return;
  }
  appendLinkified(bubble, m.content || '');
}

/**
 * The list of messages of one conversation, kept in id order, deduplicated
 * by id; pending messages (sent, not yet echoed) are matched by client_id.
 */
export class MessageList {
  /**
   * @param {HTMLOListElement} ol
   * @param {HTMLElement} scroller the scrolling element
   * @param {(m: object) => boolean} isMine
   */
  constructor(ol, scroller, isMine) {
    this.ol = ol;
    this.scroller = scroller;
    this.isMine = isMine;
    this.clear();
  }

  clear() {
    this.byId = new Map();
    this.pending = new Map(); // client_id → {li, content}
    this.seenUpTo = 0;
    this.ol.textContent = '';
  }

  /** Drops every sent message and keeps the pending ones. */
  forgetSent() {
    for (const { li } of this.byId.values()) li.remove();
    this.byId = new Map();
    this.seenUpTo = 0;
  }

  nearBottom() {
    const s = this.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight < 80;
  }

  scrollToBottom() {
    this.scroller.scrollTop = this.scroller.scrollHeight;
  }

  /** @returns {HTMLLIElement} */
  makeItem(m, mine) {
    const li = document.createElement('li');
    li.className = 'lcw-msg' + (mine ? ' is-mine' : '');
    const bubble = document.createElement('div');
    bubble.className = 'lcw-bubble';
    fillBubble(bubble, m);
    const meta = document.createElement('p');
    meta.className = 'lcw-meta';
    li.append(bubble, meta);
    return li;
  }

  setMeta(li, m) {
    const meta = li.querySelector('.lcw-meta');
    const t = formatTime(m.created);
    const seen = li.classList.contains('is-seen');
    meta.textContent = t + (seen ? ' · Seen' : '');
    if (m.created) li.title = new Date(m.created).toLocaleString();
  }

  /**
   * Adds a message unless it is there already.
   * @returns {boolean} whether it was new
   */
  add(m) {
    if (!isMessage(m) || this.byId.has(m.id)) {
      if (isMessage(m) && m.client_id) this.dropPending(m.client_id);
      return false;
    }
    const stick = this.nearBottom();
    const li = this.makeItem(m, this.isMine(m));
    li.dataset.id = String(m.id);
    this.setMeta(li, m);
    this.byId.set(m.id, { li, m });
    if (m.client_id && this.pending.has(m.client_id)) {
      const p = this.pending.get(m.client_id);
      this.pending.delete(m.client_id);
      p.li.remove();
    }
    // Insert in id order: usually at the end.
    let before = null;
    for (let el = this.ol.lastElementChild; el; el = el.previousElementSibling) {
      if (!el.dataset.id) { before = el; continue; } // pending ones stay last
      if (Number(el.dataset.id) < m.id) break;
      before = el;
    }
    this.ol.insertBefore(li, before);
    this.regroup(li);
    if (li.previousElementSibling) this.regroup(li.previousElementSibling);
    if (m.id <= this.seenUpTo && this.isMine(m)) this.markSeen(this.seenUpTo);
    if (stick) this.scrollToBottom();
    return true;
  }

  /**
   * Hides the time under a message followed within five minutes by
   * another from the same side, so a burst of messages reads as one group.
   */
  regroup(li) {
    const e = this.byId.get(Number(li.dataset.id));
    const next = li.nextElementSibling && this.byId.get(Number(li.nextElementSibling.dataset.id));
    const grouped = !!(e && next && e.m.author === next.m.author &&
      Date.parse(next.m.created) - Date.parse(e.m.created) < 5 * 60 * 1000);
    li.classList.toggle('is-grouped', grouped);
  }

  /** Adds older messages at the top, keeping the view where it was. */
  prepend(msgs) {
    const s = this.scroller;
    const fromBottom = s.scrollHeight - s.scrollTop;
    for (const m of msgs) this.add(m);
    s.scrollTop = s.scrollHeight - fromBottom;
  }

  /** Shows a message being sent; returns its element. */
  addPending(clientId, content) {
    const li = this.makeItem({ content, type: 'text', file: '' }, true);
    li.classList.add('is-pending');
    li.querySelector('.lcw-meta').textContent = 'Sending…';
    this.pending.set(clientId, { li, content });
    this.ol.append(li);
    this.scrollToBottom();
    return li;
  }

  dropPending(clientId) {
    const p = this.pending.get(clientId);
    if (p) {
      p.li.remove();
      this.pending.delete(clientId);
    }
  }

  oldestId() {
    let min = 0;
    for (const id of this.byId.keys()) if (!min || id < min) min = id;
    return min;
  }

  /** @returns {number} the newest id of the other side's messages */
  lastOtherId() {
    let max = 0;
    for (const [id, { m }] of this.byId) if (!this.isMine(m) && id > max) max = id;
    return max;
  }

  newestId() {
    let max = 0;
    for (const id of this.byId.keys()) if (id > max) max = id;
    return max;
  }

  /** Marks "Seen" under the newest own message the other side has read. */
  markSeen(upTo) {
    if (upTo > this.seenUpTo) this.seenUpTo = upTo;
    let best = null;
    for (const [id, e] of this.byId) {
      if (this.isMine(e.m) && id <= this.seenUpTo && (!best || id > best.m.id)) best = e;
    }
    for (const el of this.ol.querySelectorAll('.is-seen')) {
      el.classList.remove('is-seen');
      const e = this.byId.get(Number(el.dataset.id));
      if (e) this.setMeta(el, e.m);
    }
    if (best) {
      best.li.classList.add('is-seen');
      this.setMeta(best.li, best.m);
    }
  }
}

/**
 * Uploads a chat file with progress.
 * @param {File} file
 * @param {string} room "<username> <consumer>"
 * @param {(fraction: number) => void} onProgress
 * @returns {Promise<object>} the Message
 */
export function uploadFile(file, room, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/chatbot/message/file/upload');
    xhr.responseType = 'json';
    xhr.upload.addEventListener('progress', (e) => {
      if (e.lengthComputable) onProgress(e.loaded / e.total);
    });
    xhr.addEventListener('load', () => {
      if (xhr.status >= 200 && xhr.status < 300 && xhr.response) resolve(xhr.response);
      else reject(new Error((xhr.response && xhr.response.detail) || `Upload failed (${xhr.status}).`));
    });
    xhr.addEventListener('error', () => reject(new Error('Upload failed: no connection.')));
    const fd = new FormData();
    fd.append('room', room);
    fd.append('file', file);
    xhr.send(fd);
  });
}

/**
 * Shows an upload in the list with a progress bar and sends it.
 * @returns {Promise<object|null>} the Message, or null on failure
 */
export async function sendFileWithProgress(list, file, room) {
  const li = list.addPending('upload-' + uuid(), file.name);
  const bar = document.createElement('progress');
  bar.className = 'lcw-progress';
  bar.max = 1;
  bar.value = 0;
  bar.setAttribute('aria-label', `Uploading ${file.name}`);
  li.querySelector('.lcw-bubble').append(bar);
  try {
    const m = await uploadFile(file, room, (f) => { bar.value = f; });
    li.remove();
    list.add(m);
    return m;
  } catch (e) {
    li.classList.remove('is-pending');
    li.querySelector('.lcw-meta').textContent = e.message;
    bar.remove();
    setTimeout(() => li.remove(), 8000);
    return null;
  }
}

/**
 * Wires a composer: the form's submit and Enter in the textarea send,
 * Shift+Enter (or an IME composition) makes a new line.
 * @param {HTMLFormElement} form
 * @param {HTMLTextAreaElement} text
 * @param {() => void} send
 */
export function bindComposer(form, text, send) {
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    send();
    text.focus();
  });
  text.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      send();
    }
  });
}

/** Grows a textarea with its content, up to its CSS max-height. */
export function autoGrow(ta) {
  const fit = () => {
    ta.style.removeProperty('height');
    if (ta.value.includes('\n') || ta.scrollHeight > ta.clientHeight + 2) ta.style.height = ta.scrollHeight + 2 + 'px';
  };
  ta.addEventListener('input', fit);
  return fit;
}

bindSignout();
