// The inbox, /messages. One admin room socket (/ws/room/{username}) keeps
// the list of conversations live (presence, unread badges, the tab title,
// alerts); the open conversation (conversation.js) has its own chat socket
// (/ws/chat/{username}/{consumer}) for history, sending, typing and read
// receipts. Messages are deduplicated by id everywhere. The list itself
// (sorted order, keyed rows, paging, fetch_rooms pages) is roomlist.js;
// this module wires it to the sockets, the conversation and the alerts.
import { api, adminApi } from './api.js';
import { ReconnectingSocket } from './socket.js';
import { isMessage, uuid } from './messages.js';
import { Conversation } from './conversation.js';
import { Team } from './teaminbox.js';
import { attachCanned } from './canned.js';
import './signout.js';
import { registerWorker, reportVisibility, turnOnPush, pushSupported } from './notify.js';
import { initSearch, showMessage } from './search.js';
import { renderVisitorPanel } from './visitorpanel.js';
import { RoomList, displayName, avatarHue } from './roomlist.js';

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

/** Message ids already counted, so a message seen on two sockets counts once. */
const counted = new Set();
let openConsumer = null;

// The list of conversations (roomlist.js): the rooms' state, its sorted
// order and its rows, rendered at most once per animation frame.
const list = new RoomList({
  listEl: roomsEl,
  emptyEl: roomsEmpty,
  moreEl: roomsMore,
  filterEl: filter,
  me: username,
  shows: (r) => team.shows(r),
  emptyText: () => team.emptyText(),
  openConsumer: () => openConsumer,
  open: (consumer) => openRoom(consumer),
  send: (frame) => roomSock.send(frame),
  seen: (id) => counted.add(id),
  rendered(openDirty) {
    updateTitle();
    if (openDirty) renderConvoHead();
  },
});
/** consumer → RoomSummary-like state (the list's) */
const rooms = list.rooms;

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
      list.touch(r);
    }
  },
  onUploaded(m) {
    if (m && m.author !== username) checkSignedIn(); // taken for a visitor's upload
    if (m) onNewMessage(m);
  },
});

/** The unread total in the tab title (at each render of the list). */
function updateTitle() {
  let n = 0;
  for (const r of rooms.values()) n += r.unread || 0;
  document.title = n ? `(${n}) ${baseTitle}` : baseTitle;
}

// ---- the admin room socket ------------------------------------------------

const roomSock = new ReconnectingSocket(`/ws/room/${encodeURIComponent(username)}`, {
  onopen() {
    list.fetchFirst();
    team.refreshVisitors();
    reportVisibility(roomSock); // push goes only to agents with no inbox on screen
  },
  onstatus(on) {
    offline.hidden = on;
    if (!on) {
      // Presence is unknown while offline; fetch_rooms brings it back.
      for (const r of rooms.values()) r.online = false;
      list.renderAll();
    }
  },
  onmessage(msg) {
    switch (msg.command) {
      case 'rooms': {
        if (!list.onRooms(msg)) break;
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
          const r = list.upsert(msg.room);
          if (r) list.touch(r);
        }
        break;
      }
      case 'new_message':
        onNewMessage(msg.message);
        break;
      case 'room_updated': {
        // Assigned, resolved, reopened, or a visitor left an email.
        const r = msg.room ? list.upsert(msg.room) : rooms.get(msg.consumer);
        if (r) {
          if (!msg.room) r.consumer_email = msg.consumer_email || '';
          list.invalidateView(); // it may leave or join the view
          list.touch(r);
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
          list.renderAll();
        }
        break;
      }
      case 'presence': {
        team.presence(msg.consumer, !!msg.online, rooms.has(msg.consumer));
        const r = rooms.get(msg.consumer);
        if (r) {
          r.online = !!msg.online;
          list.touch(r);
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
  list.touch(r);
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
    if (rooms.has(openConsumer)) list.markDirty(openConsumer); // its row loses aria-current
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
  list.touch(r);
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
  list.drop(openConsumer);
  openConsumer = null;
  conv.list.clear();
  convo.hidden = true;
  convoEmpty.hidden = false;
  convoNotice.textContent = notice;
  convoNotice.hidden = !notice;
  inbox.classList.remove('has-open');
  history.replaceState(null, '', location.pathname);
  list.renderAll();
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
  changed: () => list.viewChanged(),
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
  list.touch(r);
  if (msg.consumer === openConsumer) renderVisitorPanel(visitorPanel, r);
}

initSearch({
  input: filter,
  before: roomsEl,
  label: (res) => res.name || res.consumer_email || displayName({ consumer: res.consumer }),
  open(res, words) {
    // An old conversation may not be loaded in the list yet.
    if (!rooms.has(res.consumer)) {
      const r = list.upsert({ consumer: res.consumer, consumer_email: res.consumer_email, name: res.name, last_activity: res.message.created });
      if (r) list.touch(r);
    }
    openRoom(res.consumer);
    showMessage(conv, res.consumer, res.message.id, words);
  },
});
