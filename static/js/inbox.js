// The inbox, /messages. One admin room socket (/ws/room/{username}) keeps
// the list of conversations live (presence, unread badges, the tab title,
// alerts); the open conversation (conversation.js) has its own chat socket
// (/ws/chat/{username}/{consumer}) for history, sending, typing and read
// receipts. Messages are deduplicated by id everywhere.
import { api, adminApi } from './api.js';
import { ReconnectingSocket } from './socket.js';
import { formatTime, isMessage, uuid } from './messages.js';
import { Conversation } from './conversation.js';
import './signout.js';

const app = document.getElementById('inbox-app');
const username = app.dataset.username;
const inbox = document.getElementById('inbox');
const roomsEl = document.getElementById('rooms');
const roomsEmpty = document.getElementById('rooms-empty');
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
  onPage(msgs, first) {
    // The first page is history, not news: no sound, no unread count.
    if (first) for (const m of msgs) counted.add(m.id);
    for (const m of msgs) onNewMessage(m, true);
    renderRooms();
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
      renderRooms();
    }
  },
  onUploaded(m) {
    if (m && m.author !== username) checkSignedIn(); // taken for a visitor's upload
    if (m) onNewMessage(m);
  },
});

// ---- conversations list -------------------------------------------------

function displayName(r) {
  return r.consumer_email || `Visitor ${r.consumer.length > 12 ? r.consumer.slice(0, 8) : r.consumer}`;
}

function avatarHue(s) {
  let h = 0;
  for (const ch of s) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  return h % 360;
}

function preview(r) {
  const m = r.last_message;
  if (!m) return 'Opened the chat';
  const who = m.author === username ? 'You: ' : '';
  return who + (m.file ? `File: ${m.content}` : m.content);
}

function time(r) {
  return r.last_activity ? Date.parse(r.last_activity) || 0 : 0;
}

/** Merges what the server says about a room into our state. */
function upsertRoom(r) {
  if (!r || typeof r.consumer !== 'string' || !r.consumer) return null;
  const old = rooms.get(r.consumer) || {};
  const merged = { ...old, ...r };
  const msgs = Array.isArray(r.messages) ? r.messages.filter(isMessage) : [];
  if (msgs.length) {
    const last = msgs[msgs.length - 1];
    if (!merged.last_message || last.id >= merged.last_message.id) merged.last_message = last;
    for (const m of msgs) counted.add(m.id);
  }
  delete merged.messages;
  if (merged.last_message && merged.last_message.created && !merged.last_activity) merged.last_activity = merged.last_message.created;
  merged.unread = Number(merged.unread) || 0;
  if (r.consumer === openConsumer && document.visibilityState === 'visible') merged.unread = 0;
  rooms.set(r.consumer, merged);
  return merged;
}

function renderRooms() {
  const q = filter.value.trim().toLowerCase();
  const sorted = [...rooms.values()].sort((a, b) => time(b) - time(a));
  const frag = document.createDocumentFragment();
  let shown = 0;
  for (const r of sorted) {
    const hay = `${r.consumer} ${r.consumer_email || ''} ${r.last_message ? r.last_message.content : ''}`.toLowerCase();
    if (q && !hay.includes(q)) continue;
    shown++;
    const li = document.createElement('li');
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'room' + (r.unread ? ' is-unread' : '');
    b.dataset.consumer = r.consumer;
    if (r.consumer === openConsumer) b.setAttribute('aria-current', 'true');
    const av = document.createElement('span');
    av.className = 'room-avatar' + (r.online ? ' is-online' : '');
    av.style.setProperty('background', `hsl(${avatarHue(r.consumer)} 55% 55%)`);
    av.textContent = [...displayName(r).replace(/^Visitor /, '')][0] || '?';
    av.setAttribute('aria-hidden', 'true');
    const main = document.createElement('span');
    main.className = 'room-main';
    const name = document.createElement('span');
    name.className = 'room-name';
    name.textContent = displayName(r);
    const pv = document.createElement('span');
    pv.className = 'room-preview';
    pv.textContent = preview(r);
    main.append(name, pv);
    const side = document.createElement('span');
    side.className = 'room-side';
    const t = document.createElement('span');
    t.textContent = r.last_activity ? formatTime(r.last_activity) : '';
    const badge = document.createElement('span');
    badge.className = 'badge';
    badge.textContent = r.unread ? String(r.unread) : '';
    if (r.unread) badge.setAttribute('aria-label', `${r.unread} unread`);
    side.append(t, badge);
    if (r.online) {
      const sr = document.createElement('span');
      sr.className = 'sr-only';
      sr.textContent = 'online';
      main.append(sr);
    }
    b.append(av, main, side);
    li.append(b);
    frag.append(li);
  }
  roomsEl.textContent = '';
  roomsEl.append(frag);
  roomsEmpty.hidden = rooms.size > 0;
  updateTitle();
  if (openConsumer && rooms.has(openConsumer)) renderConvoHead();
}

roomsEl.addEventListener('click', (ev) => {
  const b = ev.target.closest('.room');
  if (b) openRoom(b.dataset.consumer);
});
filter.addEventListener('input', renderRooms);

function updateTitle() {
  let n = 0;
  for (const r of rooms.values()) n += r.unread || 0;
  document.title = n ? `(${n}) ${baseTitle}` : baseTitle;
}

// ---- the admin room socket ------------------------------------------------

// The consumers of the fetch_rooms pages received so far (null: none asked).
let roomPages = null;

const roomSock = new ReconnectingSocket(`/ws/room/${encodeURIComponent(username)}`, {
  onopen() {
    roomPages = new Set();
    roomSock.send({ command: 'fetch_rooms' });
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
        // The list comes a page at a time, newest first: ask for the next
        // until has_more is false; then rooms deleted meanwhile drop out.
        if (!Array.isArray(msg.rooms)) break;
        if (!roomPages) roomPages = new Set();
        for (const r of msg.rooms) {
          if (r) roomPages.add(r.consumer);
          upsertRoom(r);
        }
        const last = msg.rooms[msg.rooms.length - 1];
        if (msg.has_more && last) {
          roomSock.send({ command: 'fetch_rooms', before: last.last_activity, limit: 200 });
          renderRooms();
          break;
        }
        for (const c of [...rooms.keys()]) if (!roomPages.has(c) && c !== openConsumer) rooms.delete(c);
        roomPages = null;
        renderRooms();
        if (!openConsumer) {
          const want = decodeURIComponent((location.hash.match(/^#c=(.+)$/) || [])[1] || '');
          if (want && rooms.has(want)) openRoom(want);
        }
        break;
      }
      case 'new_room':
        upsertRoom(msg.room);
        renderRooms();
        break;
      case 'new_message':
        onNewMessage(msg.message);
        break;
      case 'room_updated': {
        // A visitor left an email.
        const r = rooms.get(msg.consumer);
        if (r) {
          r.consumer_email = msg.consumer_email || '';
          renderRooms();
          if (msg.consumer === openConsumer) renderConvoHead();
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
        const r = rooms.get(msg.consumer);
        if (r) {
          r.online = !!msg.online;
          renderRooms();
        }
        break;
      }
      case 'typing':
        if (msg.consumer === openConsumer) conv.showTyping(!!msg.typing);
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
 * @param {boolean} [batch] leave the list of rooms for the caller to render
 */
function onNewMessage(m, batch) {
  if (!isMessage(m)) return;
  const consumer = typeof m.room === 'string' ? m.room.slice(m.room.indexOf(' ') + 1) : '';
  if (consumer === openConsumer) {
    conv.list.add(m);
    if (m.author !== username) conv.showTyping(false);
  }
  if (!consumer) return;
  const r = rooms.get(consumer) || { consumer, consumer_email: '', unread: 0, online: false };
  if (!r.last_message || m.id >= r.last_message.id) {
    r.last_message = m;
    r.last_activity = m.created;
  }
  rooms.set(consumer, r);
  if (!counted.has(m.id)) {
    counted.add(m.id);
    if (m.author !== username) {
      const looking = consumer === openConsumer && document.visibilityState === 'visible';
      if (!looking) r.unread = (r.unread || 0) + 1;
      alertNew(r, m);
    }
  }
  if (consumer === openConsumer && !batch) conv.markRead();
  if (!batch) renderRooms();
}


// ---- alerts: sound and notifications ----------------------------------------

let audio = null;
// Storage may be blocked (reading it throws): the choice then lasts as
// long as the page.
try { soundBox.checked = localStorage.getItem('livechat-sound') === 'on'; } catch (e) { /* storage off */ }
soundBox.addEventListener('change', () => {
  try { localStorage.setItem('livechat-sound', soundBox.checked ? 'on' : 'off'); } catch (e) { /* storage off */ }
  if (soundBox.checked) beep();
});

/** A short two-note chime, made with WebAudio (no audio file). */
function beep() {
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
  try { await Notification.requestPermission(); } catch (e) { /* ignored */ }
  updateNotifyButton();
});

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
}

function openRoom(consumer) {
  if (!rooms.has(consumer)) return;
  if (consumer !== openConsumer) {
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
  renderRooms();
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
  rooms.delete(openConsumer);
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
