// The inbox, /messages. One admin room socket (/ws/room/{username}) keeps
// the list of conversations live (presence, unread badges, the tab title,
// alerts); the open conversation (conversation.js) has its own chat socket
// (/ws/chat/{username}/{consumer}) for history, sending, typing and read
// receipts. Messages are deduplicated by id everywhere.
import { api, adminApi } from './api.js';
import { ReconnectingSocket } from './socket.js';
import { formatTime, isMessage, uuid } from './messages.js';
import { Conversation } from './conversation.js';
import { Team } from './teaminbox.js';
import { attachCanned } from './canned.js';
import './signout.js';
import { registerWorker, reportVisibility, turnOnPush, pushSupported } from './notify.js';
import { initSearch, showMessage } from './search.js';
import { renderVisitorPanel } from './visitorpanel.js';

const app = document.getElementById('inbox-app');
const username = app.dataset.username;
const inbox = document.getElementById('inbox');
const roomsEl = document.getElementById('rooms');
const roomsEmpty = document.getElementById('rooms-empty');
const roomsMore = document.getElementById('rooms-more');
const filter = document.getElementById('filter');
const offline = document.getElementById('offline');
const convo = document.getElementById('convo');
const convoEmpty = document.getElementById('convo-empty');
const convoNotice = document.getElementById('convo-notice');
const text = document.getElementById('text');
const soundBox = document.getElementById('sound');
const notifyBtn = document.getElementById('notify');
const baseTitle = document.title;

document.getElementById('own-chat').href = `/chatbot/${encodeURIComponent(username)}/try-${uuid()}`;

/** consumer → RoomSummary-like state */
const rooms = new Map();
/** Message ids already counted, so a message seen on two sockets counts once. */
const counted = new Set();
let openConsumer = null;

const conv = new Conversation({
  username,
  me: username,
  maxContent: Number(app.dataset.maxContent) || 4000,
  typingLabel: () => 'The visitor is typing…',
  tooLong: (max) => `Your reply is too long: at most ${max} characters.`,
  looking: () => document.visibilityState === 'visible',
  isNote: () => team.noteMode(),
  onPage(msgs, first) {
    // The first page is history, not news: no sound, no unread count.
    if (first) for (const m of msgs) counted.add(m.id);
    for (const m of msgs) onNewMessage(m, true);
  },
  onMessage(m) {
    // Our own message authored by someone else: this socket was taken
    // for a visitor's, so the session has ended.
    if (m && conv.list.pending.has(m.client_id) && m.author !== username) checkSignedIn();
    onNewMessage(m);
  },
  onNotFound: () => closeDeleted('This conversation was deleted (in another tab or on another device).'),
  onRead() {
    const r = rooms.get(openConsumer);
    if (r && r.unread) {
      r.unread = 0;
      touch(r);
    }
  },
  onUploaded(m) {
    if (m && m.author !== username) checkSignedIn(); // taken for a visitor's upload
    if (m) onNewMessage(m);
  },
});

// ---- conversations list -------------------------------------------------
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

/** Rows shown at first, and added each time the list is scrolled near its end. */
const pageRows = 50;
const count = new Intl.NumberFormat();
/** Rooms asked for per fetch_rooms page, when the server pages them. */
const fetchRoomsLimit = 100;

/** Every room, newest activity first (by r._t, then consumer id). */
let order = [];
/** What the list shows: order, or the rooms matching the filter. */
let view = order;
let viewDirty = true;
/** How many rows of view are rendered. */
let limit = pageRows;
/** consumer → its row's elements, for the rooms rendered now. */
const rows = new Map();
/** Rooms whose row must be refilled at the next render. */
const dirty = new Set();
let allDirty = false;
let scheduled = false;
/**
 * Set while a pointer is down on the list: rows stay where they are until
 * it is released (a click needs the press and the release on the same
 * row, and rooms arriving would move it away in between).
 */
let holdTimer = 0;
let frameId = 0;
let timerId = 0;
/** The server has older rooms than it sent (fetch_rooms pages). */
let serverHasMore = false;
/** last_activity of the oldest room of the last fetch_rooms page. */
let fetchedBefore = '';
/** fetch_rooms in flight, answered in order: "first" or "older". */
let roomFetches = [];

function displayName(r) {
  return (typeof r.name === 'string' && r.name) || r.consumer_email || `Visitor ${r.consumer.length > 12 ? r.consumer.slice(0, 8) : r.consumer}`;
}

function avatarHue(s) {
  let h = 0;
  for (const ch of s) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  return h % 360;
}

function preview(r) {
  const m = r.last_message;
  if (!m) return 'Opened the chat';
  const who = m.private ? 'Note: ' : m.author === username ? 'You: ' : '';
  return who + (m.file ? `File: ${m.content}` : m.content);
}

function time(r) {
  return r.last_activity ? Date.parse(r.last_activity) || 0 : 0;
}

/** Whether room a sorts before room b (by their placed keys). */
function sortsBefore(t, consumer, b) {
  return t > b._t || (t === b._t && consumer < b.consumer);
}

/** The index in order where a room with key (t, consumer) is or goes. */
function orderIndex(t, consumer) {
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
function unplace(r) {
  if (r._t === undefined) return;
  const i = orderIndex(r._t, r.consumer);
  if (order[i] === r) order.splice(i, 1);
  else {
    const j = order.indexOf(r); // not where its key says: should not happen
    if (j >= 0) order.splice(j, 1);
  }
  r._t = undefined;
}

/** Puts a room (new, or with new activity) where it belongs in order. */
function place(r) {
  const t = time(r);
  if (r._t === t) return;
  unplace(r);
  r._t = t;
  order.splice(orderIndex(t, r.consumer), 0, r);
  viewDirty = true;
}

/** A room's state changed: re-place it and refill its row at the next render. */
function touch(r) {
  place(r);
  dirty.add(r.consumer);
  if (filter.value) viewDirty = true; // it may match the filter now, or no longer
  schedule();
}

/** Forgets a room (deleted). */
function dropRoom(consumer) {
  const r = rooms.get(consumer);
  if (!r) return;
  unplace(r);
  rooms.delete(consumer);
  viewDirty = true;
  schedule();
}

/** Sorts every room afresh (after a full list from the server). */
function resort() {
  for (const r of rooms.values()) r._t = time(r);
  order = [...rooms.values()].sort((a, b) => (sortsBefore(a._t, a.consumer, b) ? -1 : 1));
  viewDirty = true;
  allDirty = true;
  schedule();
}

/** Merges what the server says about a room into our state. */
function upsertRoom(r) {
  if (!r || typeof r.consumer !== 'string' || !r.consumer) return null;
  let merged = rooms.get(r.consumer);
  if (!merged) {
    merged = {};
    rooms.set(r.consumer, merged);
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
    for (const m of msgs) counted.add(m.id);
  }
  if (merged.last_message && merged.last_message.created && !merged.last_activity) merged.last_activity = merged.last_message.created;
  merged.unread = Number(merged.unread) || 0;
  if (r.consumer === openConsumer && document.visibilityState === 'visible') merged.unread = 0;
  return merged;
}

/**
 * Asks for one render: at the next animation frame, or within 250 ms
 * while the tab is hidden (no frames then, but the title must count).
 */
function schedule() {
  if (scheduled) return;
  scheduled = true;
  frameId = requestAnimationFrame(render);
  timerId = setTimeout(render, 250);
}

/** For the callers that used to re-render at once: renders at the next frame. */
function renderRooms() {
  allDirty = true;
  schedule();
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

/** Writes a room's state into its row. */
function fillRow(row, r) {
  row.b.className = 'room' + (r.unread ? ' is-unread' : '');
  if (r.consumer === openConsumer) row.b.setAttribute('aria-current', 'true');
  else row.b.removeAttribute('aria-current');
  row.av.className = 'room-avatar' + (r.online ? ' is-online' : '');
  const name = displayName(r);
  row.av.textContent = [...name.replace(/^Visitor /, '')][0] || '?';
  row.name.textContent = name;
  row.pv.textContent = preview(r);
  row.sr.textContent = r.online ? 'online' : '';
  row.t.textContent = r.last_activity ? formatTime(r.last_activity) : '';
  row.badge.textContent = r.unread ? String(r.unread) : '';
  if (r.unread) row.badge.setAttribute('aria-label', `${r.unread} unread`);
  else row.badge.removeAttribute('aria-label');
}

function matches(r, q) {
  return `${r.consumer} ${r.name || ''} ${r.consumer_email || ''} ${r.last_message ? r.last_message.content : ''}`.toLowerCase().includes(q);
}

/** The one render of a frame: the visible rows, the count, the title, the header. */
function render() {
  cancelAnimationFrame(frameId);
  clearTimeout(timerId);
  scheduled = false;
  const q = filter.value.trim().toLowerCase();
  if (viewDirty) {
    // Conversations start with a message; the team's view (open, mine…) picks among them.
    view = order.filter((r) => team.shows(r) && (!q || matches(r, q)));
    viewDirty = false;
  }
  updateTitle();
  const openDirty = allDirty || dirty.has(openConsumer);
  if (openConsumer && openDirty && rooms.has(openConsumer)) renderConvoHead();
  if (holdTimer) return; // the rows wait for the release
  const n = Math.min(limit, view.length);
  const focused = roomsEl.contains(document.activeElement) ? document.activeElement : null;
  // Keyed reconcile: the first n children become exactly view[0..n),
  // moving existing rows (a room with news moves up) and making new ones;
  // whatever is left after them drops out.
  let cur = roomsEl.firstElementChild;
  for (let i = 0; i < n; i++) {
    const r = view[i];
    let row = rows.get(r.consumer);
    if (!row) {
      row = makeRow(r);
      rows.set(r.consumer, row);
      fillRow(row, r);
    } else if (allDirty || dirty.has(r.consumer)) {
      fillRow(row, r);
    }
    if (row.li === cur) cur = cur.nextElementSibling;
    else roomsEl.insertBefore(row.li, cur);
  }
  while (cur) {
    const next = cur.nextElementSibling;
    rows.delete(cur.firstElementChild.dataset.consumer);
    cur.remove();
    cur = next;
  }
  // A focused row that moved lost the focus on the way: give it back.
  if (focused && focused.isConnected && document.activeElement !== focused) focused.focus({ preventScroll: true });
  dirty.clear();
  allDirty = false;

  roomsEmpty.hidden = rooms.size > 0;
  if (n < view.length || serverHasMore) {
    roomsMore.textContent = `${count.format(n)} of ${count.format(view.length)}${serverHasMore && !q ? '+' : ''} conversations shown; scroll for more.`;
  } else if (q && !view.length && rooms.size) {
    roomsMore.textContent = 'No conversation matches.';
  } else if (!view.length && rooms.size) {
    roomsMore.textContent = team.emptyText();
  } else {
    roomsMore.textContent = '';
  }
  roomsMore.hidden = !roomsMore.textContent;
}

/** The pointer is up again (or 2 s went by): the rows catch up. */
function releaseRows() {
  if (!holdTimer) return;
  clearTimeout(holdTimer);
  holdTimer = 0;
  schedule();
}
roomsEl.addEventListener('pointerdown', () => {
  clearTimeout(holdTimer);
  holdTimer = setTimeout(releaseRows, 2000);
});
// After the click: pointerup and pointercancel come before it.
window.addEventListener('pointerup', () => setTimeout(releaseRows), true);
window.addEventListener('pointercancel', releaseRows, true);

/** Shows the next page of rows when the list is scrolled near its end. */
function growIfNearEnd() {
  if (roomsEl.scrollTop + roomsEl.clientHeight < roomsEl.scrollHeight - 600) return;
  if (limit < view.length) {
    limit += pageRows;
    schedule();
  } else {
    fetchOlder();
  }
}

/** Asks the server for the next page of older rooms, one at a time. */
function fetchOlder() {
  if (serverHasMore && !roomFetches.length && fetchedBefore) {
    if (roomSock.send({ command: 'fetch_rooms', before: fetchedBefore, limit: fetchRoomsLimit, status: 'all' })) roomFetches.push('older');
  }
}

// Tabbing onto the last rows scrolls the list too, which shows more.
roomsEl.addEventListener('scroll', growIfNearEnd, { passive: true });
roomsEl.addEventListener('click', (ev) => {
  const b = ev.target.closest('.room');
  if (b) openRoom(b.dataset.consumer);
});
filter.addEventListener('input', () => {
  viewDirty = true;
  limit = pageRows;
  roomsEl.scrollTop = 0;
  schedule();
  // The filter looks through every conversation: while it is in use, the
  // older pages are fetched one after another (see the rooms frame).
  if (filter.value.trim()) fetchOlder();
});

function updateTitle() {
  let n = 0;
  for (const r of rooms.values()) n += r.unread || 0;
  document.title = n ? `(${n}) ${baseTitle}` : baseTitle;
}

// ---- the admin room socket ------------------------------------------------


const roomSock = new ReconnectingSocket(`/ws/room/${encodeURIComponent(username)}`, {
  onopen() {
    // The newest rooms; a server that pages them (has_more) gives the
    // older ones as the list is scrolled to its end.
    roomFetches = [];
    // Every state: the view select filters them here, live.
    if (roomSock.send({ command: 'fetch_rooms', limit: fetchRoomsLimit, status: 'all' })) roomFetches.push('first');
    team.refreshVisitors();
    reportVisibility(roomSock); // push goes only to agents with no inbox on screen
  },
  onstatus(on) {
    offline.hidden = on;
    if (!on) {
      // Presence is unknown while offline; fetch_rooms brings it back.
      for (const r of rooms.values()) r.online = false;
      renderRooms();
    }
  },
  onmessage(msg) {
    switch (msg.command) {
      case 'rooms': {
        const kind = roomFetches.shift() || 'first';
        if (!Array.isArray(msg.rooms)) break;
        const got = [];
        for (const r of msg.rooms) {
          const u = upsertRoom(r);
          if (u) got.push(u);
        }
        const oldest = got.length ? got[got.length - 1] : null;
        if (kind === 'first') {
          // The newest rooms (all of them unless has_more): rooms that
          // should be among them and are not were deleted meanwhile.
          const keep = new Set(got.map((r) => r.consumer));
          const from = msg.has_more && oldest ? time(oldest) : -Infinity;
          for (const r of [...rooms.values()]) {
            if (!keep.has(r.consumer) && r.consumer !== openConsumer && time(r) >= from) rooms.delete(r.consumer);
          }
        }
        serverHasMore = !!msg.has_more;
        if (oldest) fetchedBefore = oldest.last_activity || '';
        resort();
        if (filter.value.trim()) fetchOlder();
        if (!openConsumer) {
          const want = decodeURIComponent((location.hash.match(/^#c=(.+)$/) || [])[1] || '');
          if (want && rooms.has(want)) openRoom(want);
        }
        break;
      }
      case 'new_room': {
        // Someone opened the chat: a visitor on the site, not yet a
        // conversation (that starts with a message).
        team.visitorSeen(msg.room, rooms.has(msg.room && msg.room.consumer));
        if (msg.room && Array.isArray(msg.room.messages) && msg.room.messages.length) {
          const r = upsertRoom(msg.room);
          if (r) touch(r);
        }
        break;
      }
      case 'new_message':
        onNewMessage(msg.message);
        break;
      case 'room_updated': {
        // Assigned, resolved, reopened, or a visitor left an email.
        const r = msg.room ? upsertRoom(msg.room) : rooms.get(msg.consumer);
        if (r) {
          if (!msg.room) r.consumer_email = msg.consumer_email || '';
          viewDirty = true; // it may leave or join the view
          touch(r);
          if (r.consumer === openConsumer) renderConvoHead();
        }
        break;
      }
      case 'read': {
        // Reading is shared: an agent of the business (another one, or
        // this one elsewhere) read the room, so its badge goes.
        const r = rooms.get(msg.consumer);
        if (r && msg.by === username && r.unread) {
          r.unread = 0;
          renderRooms();
        }
        break;
      }
      case 'presence': {
        team.presence(msg.consumer, !!msg.online, rooms.has(msg.consumer));
        const r = rooms.get(msg.consumer);
        if (r) {
          r.online = !!msg.online;
          touch(r);
        }
        break;
      }
      case 'typing':
        if (msg.consumer === openConsumer) conv.showTyping(!!msg.typing);
        break;
      case 'visitor':
        onVisitor(msg); // below, with the visitor panel
        break;
      case 'error':
        console.warn('livechat:', msg.error, msg.detail);
        if (msg.error === 'forbidden') checkSignedIn();
        break;
    }
  },
});

/**
 * The socket took us for a visitor: the session has ended (signed out
 * elsewhere, or the password changed). Go and sign in again.
 */
async function checkSignedIn() {
  const res = await api('GET', '/accounts/api/me');
  if (res.status === 401) location.href = '/signin';
}

/**
 * A message from either socket: update the list, the room, the alerts.
 * @param {object} m
 * @param {boolean} [batch] a page of history: the conversation sends its
 *   own read receipt
 */
function onNewMessage(m, batch) {
  if (!isMessage(m)) return;
  const consumer = typeof m.room === 'string' ? m.room.slice(m.room.indexOf(' ') + 1) : '';
  if (consumer === openConsumer) {
    conv.list.add(m);
    if (m.author !== username) conv.showTyping(false);
  }
  if (!consumer) return;
  let r = rooms.get(consumer);
  if (!r) {
    r = { consumer, consumer_email: '', unread: 0, online: false };
    rooms.set(consumer, r);
  }
  if (!r.last_message || m.id >= r.last_message.id) {
    r.last_message = m;
    r.last_activity = m.created;
  }
  team.hasMessages(consumer);
  if (!counted.has(m.id)) {
    counted.add(m.id);
    if (m.author !== username) {
      const looking = consumer === openConsumer && document.visibilityState === 'visible';
      if (!looking) r.unread = (r.unread || 0) + 1;
      alertNew(r, m);
    }
  }
  if (consumer === openConsumer && !batch) conv.markRead();
  touch(r);
}


// ---- alerts: sound and notifications ----------------------------------------

let audio = null;
let lastBeep = 0;
// Storage may be blocked (reading it throws): the choice then lasts as
// long as the page.
try { soundBox.checked = localStorage.getItem('livechat-sound') === 'on'; } catch (e) { /* storage off */ }
soundBox.addEventListener('change', () => {
  try { localStorage.setItem('livechat-sound', soundBox.checked ? 'on' : 'off'); } catch (e) { /* storage off */ }
  if (soundBox.checked) beep();
});

/** A short two-note chime, made with WebAudio (no audio file). */
function beep() {
  // One chime for a burst of messages, not one per message.
  if (performance.now() - lastBeep < 1000) return;
  lastBeep = performance.now();
  try {
    audio = audio || new AudioContext();
    const t = audio.currentTime;
    for (const [i, f] of [[0, 880], [1, 1320]]) {
      const o = audio.createOscillator();
      const g = audio.createGain();
      o.type = 'sine';
      o.frequency.value = f;
      g.gain.setValueAtTime(0.0001, t + i * 0.12);
      g.gain.exponentialRampToValueAtTime(0.15, t + i * 0.12 + 0.02);
      g.gain.exponentialRampToValueAtTime(0.0001, t + i * 0.12 + 0.25);
      o.connect(g).connect(audio.destination);
      o.start(t + i * 0.12);
      o.stop(t + i * 0.12 + 0.3);
    }
  } catch (e) { /* no audio */ }
}

function updateNotifyButton() {
  if (!('Notification' in window)) {
    notifyBtn.hidden = true;
    return;
  }
  notifyBtn.hidden = Notification.permission !== 'default';
}
updateNotifyButton();
notifyBtn.addEventListener('click', async () => {
  // Push when the browser has it (notifications while the inbox is
  // closed), else the page's own notifications.
  if (pushSupported()) {
    const err = await turnOnPush();
    if (err) notifyBtn.title = err;
  } else {
    try { await Notification.requestPermission(); } catch (e) { /* ignored */ }
  }
  updateNotifyButton();
});
// A browser with notifications on keeps its worker (sw.js) registered
// and current; turning them on registers it (notify.js).
if ('Notification' in window && Notification.permission === 'granted') registerWorker();

function alertNew(r, m) {
  if (soundBox.checked) beep();
  if (document.visibilityState === 'hidden' && 'Notification' in window && Notification.permission === 'granted') {
    try {
      const n = new Notification(`New message from ${displayName(r)}`, { body: m.file ? `File: ${m.content}` : m.content, tag: r.consumer });
      n.addEventListener('click', () => {
        window.focus();
        openRoom(r.consumer);
        n.close();
      });
    } catch (e) { /* notifications unavailable */ }
  }
}

// ---- the open conversation ----------------------------------------------

function renderConvoHead() {
  const r = rooms.get(openConsumer);
  if (!r) return;
  document.getElementById('convo-name').textContent = displayName(r);
  const sub = [r.online ? 'Online now' : 'Offline', r.consumer_email ? `id ${r.consumer}` : `no email given`];
  document.getElementById('convo-sub').textContent = sub.join(' · ');
  const av = document.getElementById('convo-avatar');
  av.className = 'room-avatar' + (r.online ? ' is-online' : '');
  av.style.setProperty('background', `hsl(${avatarHue(r.consumer)} 55% 55%)`);
  av.textContent = [...displayName(r).replace(/^Visitor /, '')][0] || '?';
  team.renderHead(r);
}

function openRoom(consumer) {
  if (!rooms.has(consumer)) return;
  if (consumer !== openConsumer) {
    if (rooms.has(openConsumer)) dirty.add(openConsumer); // its row loses aria-current
    openConsumer = consumer;
    conv.open(consumer);
    conv.clearComposer();
    history.replaceState(null, '', `#c=${encodeURIComponent(consumer)}`);
    const exportURL = `/chatbot/api/rooms/${encodeURIComponent(consumer)}/export`;
    document.getElementById('export').href = exportURL;
    document.getElementById('export-html').href = exportURL + '?format=html';
    document.getElementById('export-text').href = exportURL + '?format=text';
    document.getElementById('export-menu').open = false;
  }
  convo.hidden = false;
  convoEmpty.hidden = true;
  convoNotice.hidden = true;
  inbox.classList.add('has-open');
  const r = rooms.get(consumer);
  r.unread = 0;
  renderConvoHead(); // at once; the list follows at the next frame
  renderVisitorPanel(visitorPanel, r);
  touch(r);
  text.focus();
}

document.getElementById('back').addEventListener('click', () => {
  inbox.classList.remove('has-open');
  roomsEl.querySelector('[aria-current="true"]')?.focus();
});

document.getElementById('delete').addEventListener('click', async () => {
  const consumer = openConsumer;
  const r = rooms.get(consumer);
  if (!consumer || !r) return;
  if (!confirm(`Delete the conversation with ${displayName(r)}? Its messages and files are erased for good.`)) return;
  conv.close();
  const res = await adminApi('DELETE', `/chatbot/api/rooms/${encodeURIComponent(consumer)}`);
  if (res.status === 401) return; // on the way to the sign-in page
  if (!res.ok && res.status !== 404) {
    alert(res.data.detail || 'The conversation could not be deleted.');
    openConsumer = null;
    openRoom(consumer);
    return;
  }
  closeDeleted('');
});

/**
 * Closes the open conversation, which no longer exists, and drops it from
 * the list; notice says why, when it was not this tab's doing.
 */
function closeDeleted(notice) {
  conv.close();
  dropRoom(openConsumer);
  openConsumer = null;
  conv.list.clear();
  convo.hidden = true;
  convoEmpty.hidden = false;
  convoNotice.textContent = notice;
  convoNotice.hidden = !notice;
  inbox.classList.remove('has-open');
  history.replaceState(null, '', location.pathname);
  renderRooms();
}

// A click on a push notification while this inbox is open: static/sw.js
// focuses the window and names the conversation ("/messages#c=<consumer>").
if ('serviceWorker' in navigator) {
  navigator.serviceWorker.addEventListener('message', (e) => {
    if (!e.data || e.data.type !== 'open' || typeof e.data.url !== 'string') return;
    const m = new URL(e.data.url, location.href).hash.match(/^#c=(.+)$/);
    const consumer = m ? decodeURIComponent(m[1]) : '';
    if (consumer && rooms.has(consumer)) openRoom(consumer);
  });
}

// The export menu closes once a format is chosen, or on a click elsewhere.
const exportMenu = document.getElementById('export-menu');
exportMenu.addEventListener('click', (ev) => { if (ev.target.closest('a')) exportMenu.open = false; });
document.addEventListener('click', (ev) => { if (!exportMenu.contains(ev.target)) exportMenu.open = false; });

// ---- the team inbox: view, assignment, resolve, notes, visitors, canned replies
// (teaminbox.js and canned.js; these lines only wire them to this page)

const team = new Team({
  rooms,
  open: (consumer) => openRoom(consumer),
  openConsumer: () => openConsumer,
  changed: () => { viewDirty = true; limit = pageRows; schedule(); },
  displayName,
});
attachCanned(text);

// ---- search and the visitor panel (search.js, visitorpanel.js) -----------

const visitorPanel = document.createElement('aside');
visitorPanel.className = 'visitor-panel';
visitorPanel.id = 'visitor-panel';
visitorPanel.setAttribute('aria-label', 'Visitor');
convo.append(visitorPanel);

/** A "visitor" frame: the room's visitor changed. */
function onVisitor(msg) {
  const r = rooms.get(msg.consumer);
  if (!r || !msg.visitor || typeof msg.visitor !== 'object') return;
  r.visitor = msg.visitor;
  if (typeof msg.visitor.name === 'string') r.name = msg.visitor.name;
  touch(r);
  if (msg.consumer === openConsumer) renderVisitorPanel(visitorPanel, r);
}

initSearch({
  input: filter,
  before: roomsEl,
  label: (res) => res.name || res.consumer_email || displayName({ consumer: res.consumer }),
  open(res, words) {
    // An old conversation may not be loaded in the list yet.
    if (!rooms.has(res.consumer)) {
      const r = upsertRoom({ consumer: res.consumer, consumer_email: res.consumer_email, name: res.name, last_activity: res.message.created });
      if (r) touch(r);
    }
    openRoom(res.consumer);
    showMessage(conv, res.consumer, res.message.id, words);
  },
});
