// The inbox's list of conversations (/messages): the rooms' state, kept
// in one sorted array, and their rows. inbox.js owns the sockets and the
// open conversation; it feeds frames in here and hears back through hooks.
//
// A flood of visitors (hundreds of new_room, presence and new_message
// frames a second) must not freeze the page, so frames never touch the DOM:
// they update the room's state, move it in `order` (kept sorted, newest
// activity first, by binary search: usually a move to the top), mark it
// dirty and ask for one render on the next animation frame. The render
// shows only the first `limit` rooms of the (filtered) order, one keyed row
// per room, updating the dirty rows and moving rows rather than rebuilding
// the list; scrolling near the end shows the next page. So a frame costs
// the same with 10,000 conversations as with 100.
import { formatTime, isMessage } from './messages.js';

/** Rows shown at first, and added each time the list is scrolled near its end. */
const pageRows = 50;
const count = new Intl.NumberFormat();
/** Rooms asked for per fetch_rooms page, when the server pages them. */
const fetchRoomsLimit = 100;

/** A room's name: the visitor's name, email, or a short id. */
export function displayName(r) {
  return (typeof r.name === 'string' && r.name) || r.consumer_email || `Visitor ${r.consumer.length > 12 ? r.consumer.slice(0, 8) : r.consumer}`;
}

/** A room's avatar colour (hue), from its consumer id. */
export function avatarHue(s) {
  let h = 0;
  for (const ch of s) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  return h % 360;
}

/** A room's last activity, in ms (0 when unknown): its sort key. */
export function time(r) {
  return r.last_activity ? Date.parse(r.last_activity) || 0 : 0;
}

/** Whether room a sorts before room b (by their placed keys). */
function sortsBefore(t, consumer, b) {
  return t > b._t || (t === b._t && consumer < b.consumer);
}

function matches(r, q) {
  return `${r.consumer} ${r.name || ''} ${r.consumer_email || ''} ${r.last_message ? r.last_message.content : ''}`.toLowerCase().includes(q);
}

/** @returns {{li: HTMLLIElement, b: HTMLButtonElement, av: HTMLElement, name: HTMLElement, pv: HTMLElement, sr: HTMLElement, t: HTMLElement, badge: HTMLElement}} */
function makeRow(r) {
  const li = document.createElement('li');
  const b = document.createElement('button');
  b.type = 'button';
  b.dataset.consumer = r.consumer;
  const av = document.createElement('span');
  av.setAttribute('aria-hidden', 'true');
  av.style.setProperty('background', `hsl(${avatarHue(r.consumer)} 55% 55%)`);
  const main = document.createElement('span');
  main.className = 'room-main';
  const name = document.createElement('span');
  name.className = 'room-name';
  const pv = document.createElement('span');
  pv.className = 'room-preview';
  const sr = document.createElement('span');
  sr.className = 'sr-only';
  main.append(name, pv, sr);
  const side = document.createElement('span');
  side.className = 'room-side';
  const t = document.createElement('span');
  const badge = document.createElement('span');
  badge.className = 'badge';
  side.append(t, badge);
  b.append(av, main, side);
  li.append(b);
  return { li, b, av, name, pv, sr, t, badge };
}

/**
 * @typedef {object} RoomListHooks
 * @property {HTMLElement} listEl the list (ul) the rows go in
 * @property {HTMLElement} emptyEl shown while there is no room at all
 * @property {HTMLElement} moreEl the "N of M shown" line
 * @property {HTMLInputElement} filterEl the filter box
 * @property {string} me the signed-in username ("You: " previews)
 * @property {(r: any) => boolean} shows whether the view (team) shows a room
 * @property {() => string} emptyText what an empty view says
 * @property {() => string|null} openConsumer the open conversation
 * @property {(consumer: string) => void} open a row was clicked
 * @property {(frame: object) => boolean} send sends a frame on the room socket
 * @property {(id: number) => void} seen a message already in history (not news)
 * @property {(openDirty: boolean) => void} rendered once per render, even
 *   while the rows hold: the title, and the open room's header if openDirty
 */

export class RoomList {
  /** @param {RoomListHooks} h */
  constructor(h) {
    this.h = h;
    /** consumer → RoomSummary-like state */
    this.rooms = new Map();
    /** Every room, newest activity first (by r._t, then consumer id). */
    this.order = [];
    /** What the list shows: order, or the rooms matching the filter. */
    this.view = this.order;
    this.viewDirty = true;
    /** How many rows of view are rendered. */
    this.limit = pageRows;
    /** consumer → its row's elements, for the rooms rendered now. */
    this.rows = new Map();
    /** Rooms whose row must be refilled at the next render. */
    this.dirty = new Set();
    this.allDirty = false;
    this.scheduled = false;
    /**
     * Set while a pointer is down on the list: rows stay where they are
     * until it is released (a click needs the press and the release on the
     * same row, and rooms arriving would move it away in between).
     */
    this.holdTimer = 0;
    this.frameId = 0;
    this.timerId = 0;
    /** The server has older rooms than it sent (fetch_rooms pages). */
    this.serverHasMore = false;
    /** last_activity of the oldest room of the last fetch_rooms page. */
    this.fetchedBefore = '';
    /** fetch_rooms in flight, answered in order: "first" or "older". */
    this.roomFetches = [];
    this.render = this.render.bind(this);

    const list = h.listEl;
    const release = () => this.releaseRows();
    list.addEventListener('pointerdown', () => {
      clearTimeout(this.holdTimer);
      this.holdTimer = setTimeout(release, 2000);
    });
    // After the click: pointerup and pointercancel come before it.
    window.addEventListener('pointerup', () => setTimeout(release), true);
    window.addEventListener('pointercancel', release, true);
    // Tabbing onto the last rows scrolls the list too, which shows more.
    list.addEventListener('scroll', () => this.growIfNearEnd(), { passive: true });
    list.addEventListener('click', (ev) => {
      const b = ev.target.closest('.room');
      if (b) h.open(b.dataset.consumer);
    });
    h.filterEl.addEventListener('input', () => {
      this.viewDirty = true;
      this.limit = pageRows;
      list.scrollTop = 0;
      this.schedule();
      // The filter looks through every conversation: while it is in use,
      // the older pages are fetched one after another (see onRooms).
      if (h.filterEl.value.trim()) this.fetchOlder();
    });
  }

  preview(r) {
    const m = r.last_message;
    if (!m) return 'Opened the chat';
    const who = m.private ? 'Note: ' : m.author === this.h.me ? 'You: ' : '';
    return who + (m.file ? `File: ${m.content}` : m.content);
  }

  /** The index in order where a room with key (t, consumer) is or goes. */
  orderIndex(t, consumer) {
    const order = this.order;
    let lo = 0;
    let hi = order.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (sortsBefore(t, consumer, order[mid]) || order[mid].consumer === consumer) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  /** Takes a room out of order, if it is in. */
  unplace(r) {
    if (r._t === undefined) return;
    const i = this.orderIndex(r._t, r.consumer);
    if (this.order[i] === r) this.order.splice(i, 1);
    else {
      const j = this.order.indexOf(r); // not where its key says: should not happen
      if (j >= 0) this.order.splice(j, 1);
    }
    r._t = undefined;
  }

  /** Puts a room (new, or with new activity) where it belongs in order. */
  place(r) {
    const t = time(r);
    if (r._t === t) return;
    this.unplace(r);
    r._t = t;
    this.order.splice(this.orderIndex(t, r.consumer), 0, r);
    this.viewDirty = true;
  }

  /** A room's state changed: re-place it and refill its row at the next render. */
  touch(r) {
    this.place(r);
    this.dirty.add(r.consumer);
    if (this.h.filterEl.value) this.viewDirty = true; // it may match the filter now, or no longer
    this.schedule();
  }

  /** A room's row must be refilled at the next render (without asking for one). */
  markDirty(consumer) {
    this.dirty.add(consumer);
  }

  /** Rooms may have joined or left the view: filter again at the next render. */
  invalidateView() {
    this.viewDirty = true;
  }

  /** The view changed (the team's Show menu): back to the first page. */
  viewChanged() {
    this.viewDirty = true;
    this.limit = pageRows;
    this.schedule();
  }

  /** Forgets a room (deleted). */
  drop(consumer) {
    const r = this.rooms.get(consumer);
    if (!r) return;
    this.unplace(r);
    this.rooms.delete(consumer);
    this.viewDirty = true;
    this.schedule();
  }

  /** Sorts every room afresh (after a full list from the server). */
  resort() {
    for (const r of this.rooms.values()) r._t = time(r);
    this.order = [...this.rooms.values()].sort((a, b) => (sortsBefore(a._t, a.consumer, b) ? -1 : 1));
    this.viewDirty = true;
    this.allDirty = true;
    this.schedule();
  }

  /** Merges what the server says about a room into our state. */
  upsert(r) {
    if (!r || typeof r.consumer !== 'string' || !r.consumer) return null;
    let merged = this.rooms.get(r.consumer);
    if (!merged) {
      merged = {};
      this.rooms.set(r.consumer, merged);
    }
    // The fields the list uses, and only those: the object is the room's
    // place in order, so nothing from a frame may touch its sort key.
    merged.consumer = r.consumer;
    for (const k of ['consumer_email', 'unread', 'online', 'created', 'last_activity', 'status', 'assignee', 'name', 'visitor']) if (k in r) merged[k] = r[k];
    if (isMessage(r.last_message) && (!merged.last_message || r.last_message.id >= merged.last_message.id)) merged.last_message = r.last_message;
    const msgs = Array.isArray(r.messages) ? r.messages.filter(isMessage) : [];
    if (msgs.length) {
      const last = msgs[msgs.length - 1];
      if (!merged.last_message || last.id >= merged.last_message.id) merged.last_message = last;
      for (const m of msgs) this.h.seen(m.id);
    }
    if (merged.last_message && merged.last_message.created && !merged.last_activity) merged.last_activity = merged.last_message.created;
    merged.unread = Number(merged.unread) || 0;
    if (r.consumer === this.h.openConsumer() && document.visibilityState === 'visible') merged.unread = 0;
    return merged;
  }

  /**
   * Asks for one render: at the next animation frame, or within 250 ms
   * while the tab is hidden (no frames then, but the title must count).
   */
  schedule() {
    if (this.scheduled) return;
    this.scheduled = true;
    this.frameId = requestAnimationFrame(this.render);
    this.timerId = setTimeout(this.render, 250);
  }

  /** Refills every row at the next frame. */
  renderAll() {
    this.allDirty = true;
    this.schedule();
  }

  /** Writes a room's state into its row. */
  fillRow(row, r) {
    row.b.className = 'room' + (r.unread ? ' is-unread' : '');
    if (r.consumer === this.h.openConsumer()) row.b.setAttribute('aria-current', 'true');
    else row.b.removeAttribute('aria-current');
    row.av.className = 'room-avatar' + (r.online ? ' is-online' : '');
    const name = displayName(r);
    row.av.textContent = [...name.replace(/^Visitor /, '')][0] || '?';
    row.name.textContent = name;
    row.pv.textContent = this.preview(r);
    row.sr.textContent = r.online ? 'online' : '';
    row.t.textContent = r.last_activity ? formatTime(r.last_activity) : '';
    row.badge.textContent = r.unread ? String(r.unread) : '';
    if (r.unread) row.badge.setAttribute('aria-label', `${r.unread} unread`);
    else row.badge.removeAttribute('aria-label');
  }

  /** The one render of a frame: the visible rows, the count, and the page's hook. */
  render() {
    cancelAnimationFrame(this.frameId);
    clearTimeout(this.timerId);
    this.scheduled = false;
    const h = this.h;
    const roomsEl = h.listEl;
    const q = h.filterEl.value.trim().toLowerCase();
    if (this.viewDirty) {
      // Conversations start with a message; the team's view (open, mine…) picks among them.
      this.view = this.order.filter((r) => h.shows(r) && (!q || matches(r, q)));
      this.viewDirty = false;
    }
    const view = this.view;
    const openConsumer = h.openConsumer();
    h.rendered((this.allDirty || this.dirty.has(openConsumer)) && !!openConsumer && this.rooms.has(openConsumer));
    if (this.holdTimer) return; // the rows wait for the release
    const n = Math.min(this.limit, view.length);
    const focused = roomsEl.contains(document.activeElement) ? document.activeElement : null;
    // Keyed reconcile: the first n children become exactly view[0..n),
    // moving existing rows (a room with news moves up) and making new ones;
    // whatever is left after them drops out.
    let cur = roomsEl.firstElementChild;
    for (let i = 0; i < n; i++) {
      const r = view[i];
      let row = this.rows.get(r.consumer);
      if (!row) {
        row = makeRow(r);
        this.rows.set(r.consumer, row);
        this.fillRow(row, r);
      } else if (this.allDirty || this.dirty.has(r.consumer)) {
        this.fillRow(row, r);
      }
      if (row.li === cur) cur = cur.nextElementSibling;
      else roomsEl.insertBefore(row.li, cur);
    }
    while (cur) {
      const next = cur.nextElementSibling;
      this.rows.delete(cur.firstElementChild.dataset.consumer);
      cur.remove();
      cur = next;
    }
    // A focused row that moved lost the focus on the way: give it back.
    if (focused && focused.isConnected && document.activeElement !== focused) focused.focus({ preventScroll: true });
    this.dirty.clear();
    this.allDirty = false;

    const more = h.moreEl;
    h.emptyEl.hidden = this.rooms.size > 0;
    if (n < view.length || this.serverHasMore) {
      more.textContent = `${count.format(n)} of ${count.format(view.length)}${this.serverHasMore && !q ? '+' : ''} conversations shown; scroll for more.`;
    } else if (q && !view.length && this.rooms.size) {
      more.textContent = 'No conversation matches.';
    } else if (!view.length && this.rooms.size) {
      more.textContent = h.emptyText();
    } else {
      more.textContent = '';
    }
    more.hidden = !more.textContent;
  }

  /** The pointer is up again (or 2 s went by): the rows catch up. */
  releaseRows() {
    if (!this.holdTimer) return;
    clearTimeout(this.holdTimer);
    this.holdTimer = 0;
    this.schedule();
  }

  /** Shows the next page of rows when the list is scrolled near its end. */
  growIfNearEnd() {
    const roomsEl = this.h.listEl;
    if (roomsEl.scrollTop + roomsEl.clientHeight < roomsEl.scrollHeight - 600) return;
    if (this.limit < this.view.length) {
      this.limit += pageRows;
      this.schedule();
    } else {
      this.fetchOlder();
    }
  }

  /** Asks the server for the next page of older rooms, one at a time. */
  fetchOlder() {
    if (this.serverHasMore && !this.roomFetches.length && this.fetchedBefore) {
      if (this.h.send({ command: 'fetch_rooms', before: this.fetchedBefore, limit: fetchRoomsLimit, status: 'all' })) this.roomFetches.push('older');
    }
  }

  /**
   * The room socket (re)connected: asks for the newest rooms; a server
   * that pages them (has_more) gives the older ones as the list is
   * scrolled to its end.
   */
  fetchFirst() {
    this.roomFetches = [];
    // Every state: the view select filters them here, live.
    if (this.h.send({ command: 'fetch_rooms', limit: fetchRoomsLimit, status: 'all' })) this.roomFetches.push('first');
  }

  /**
   * A "rooms" frame: the answer to the oldest fetch_rooms in flight.
   * @returns {boolean} whether it was a list of rooms (else ignored)
   */
  onRooms(msg) {
    const kind = this.roomFetches.shift() || 'first';
    if (!Array.isArray(msg.rooms)) return false;
    const got = [];
    for (const r of msg.rooms) {
      const u = this.upsert(r);
      if (u) got.push(u);
    }
    const oldest = got.length ? got[got.length - 1] : null;
    if (kind === 'first') {
      // The newest rooms (all of them unless has_more): rooms that
      // should be among them and are not were deleted meanwhile.
      const keep = new Set(got.map((r) => r.consumer));
      const from = msg.has_more && oldest ? time(oldest) : -Infinity;
      const openConsumer = this.h.openConsumer();
      for (const r of [...this.rooms.values()]) {
        if (!keep.has(r.consumer) && r.consumer !== openConsumer && time(r) >= from) this.rooms.delete(r.consumer);
      }
    }
    this.serverHasMore = !!msg.has_more;
    if (oldest) this.fetchedBefore = oldest.last_activity || '';
    this.resort();
    if (this.h.filterEl.value.trim()) this.fetchOlder();
    return true;
  }
}
