// Messages on the page: their shape, rendering (text, links, images,
// files) and the message list of a conversation, with the client ids of
// messages being sent. User text is only ever inserted with textContent.

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
 * @returns {boolean} whether m has the shape of SPEC's Message (as far as
 * the pages use it); anything else from a socket is ignored.
 */
export function isMessage(m) {
  return !!m && typeof m === 'object' && Number.isSafeInteger(m.id) && typeof m.content === 'string' &&
    typeof m.author === 'string' && typeof m.room === 'string';
}

// Made once: toLocaleTimeString with options builds a formatter per call,
// which the inbox felt with thousands of rooms arriving.
const timeFormat = new Intl.DateTimeFormat([], { hour: '2-digit', minute: '2-digit' });
const dateFormat = new Intl.DateTimeFormat([], { month: 'short', day: 'numeric' });

/** @returns {string} a short local time like "14:05" (or a date for older). */
export function formatTime(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const now = new Date();
  const time = timeFormat.format(d);
  if (d.toDateString() === now.toDateString()) return time;
  return dateFormat.format(d) + ' ' + time;
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

/**
 * Fills a bubble with a message's content: text (links made anchors), an
 * image, or a file link; files only from our own /files/ URLs.
 * @param {HTMLElement} bubble
 * @param {object} m the Message
 */
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

  /** Empties the list, pending messages included. */
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

  /** @returns {boolean} whether the view is at (or near) the newest message */
  nearBottom() {
    const s = this.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight < 80;
  }

  /** Scrolls to the newest message. */
  scrollToBottom() {
    this.scroller.scrollTop = this.scroller.scrollHeight;
  }

  /** @private @returns {HTMLLIElement} a message's item, without its meta text */
  makeItem(m, mine) {
    const li = document.createElement('li');
    li.className = 'lcw-msg' + (mine ? ' is-mine' : '') + (m.private ? ' is-note' : '');
    const bubble = document.createElement('div');
    bubble.className = 'lcw-bubble';
    fillBubble(bubble, m);
    const meta = document.createElement('p');
    meta.className = 'lcw-meta';
    if (typeof m.agent === 'string' && m.agent) {
      // Which agent of the team wrote it (text, never HTML).
      const who = document.createElement('p');
      who.className = 'lcw-agent';
      who.textContent = m.agent;
      li.append(who);
    }
    if (m.private) {
      // A private note: only the team sees it (the inbox only).
      const tag = document.createElement('p');
      tag.className = 'lcw-note-tag';
      tag.textContent = 'Private note';
      li.append(tag);
    }
    li.append(bubble, meta);
    return li;
  }

  /** @private Writes the time (and "Seen") under a message. */
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
    // The agent's name shows once above a run of their messages.
    if (next) li.nextElementSibling.classList.toggle('is-same-agent', grouped && e.m.agent_id === next.m.agent_id);
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

  /** Removes a pending message, if shown. @param {string} clientId */
  dropPending(clientId) {
    const p = this.pending.get(clientId);
    if (p) {
      p.li.remove();
      this.pending.delete(clientId);
    }
  }

  /** @returns {number} the oldest id in the list, 0 if none */
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

  /** @returns {number} the newest id in the list, 0 if none */
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
