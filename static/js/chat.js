// The visitor's chat window, /chatbot/{username}/{consumer}. It speaks
// over one socket, /ws/chat/{username}/{consumer}, reconnects by itself,
// and tells a parent page (widget.js) about new messages.
import { api } from './api.js';
import { applyChatbotStyle } from './style.js';
import { ReconnectingSocket } from './socket.js';
import { isMessage, MessageList, uuid } from './messages.js';
import { sendFileWithProgress } from './upload.js';
import { autoGrow, bindComposer } from './conversation.js';

const root = document.getElementById('chat');
const username = root.dataset.username;
const consumer = root.dataset.consumer;
const maxContent = Number(root.dataset.maxContent) || 4000;
const room = `${username} ${consumer}`;
const framed = window.parent !== window;
let style = JSON.parse(root.dataset.chatbot || '{}');
applyChatbotStyle(root, style);

const log = document.getElementById('log');
const more = document.getElementById('more');
const typingEl = document.getElementById('typing');
const offline = document.getElementById('offline');
const statusEl = document.getElementById('status');
const form = document.getElementById('composer');
const text = document.getElementById('text');
const attach = document.getElementById('attach');
const emailForm = document.getElementById('email-form');
const emailInput = document.getElementById('email');

const list = new MessageList(document.getElementById('messages'), log, (m) => m.author === consumer);
const fit = autoGrow(text);

/** Requests in flight on the socket, answered in order: "latest" or "older". */
let fetches = [];
let hasMore = false;
let loaded = false;
/**
 * What our widget last said: true (open), false (closed), or null while no
 * widget has spoken (the window opened directly, or framed by another page).
 */
let widgetOpen = null;
let lastReadSent = 0;

const sock = new ReconnectingSocket(`/ws/chat/${encodeURIComponent(username)}/${encodeURIComponent(consumer)}`, {
  onopen() {
    // The first load is one page; after a reconnect, catch up on up to
    // 200 (the server's default), deduplicated by id.
    fetches = ['latest'];
    more.hidden = true; // an older page asked for on the old socket died with it
    sock.send(loaded ? { command: 'fetch_messages' } : { command: 'fetch_messages', limit: 50 });
    for (const [clientId, p] of list.pending) {
      if (!clientId.startsWith('upload-')) sock.send({ command: 'new_message', message: { content: p.content, client_id: clientId } });
    }
  },
  onstatus(on) {
    offline.hidden = on;
    if (on) refreshDetails();
  },
  onmessage(msg) {
    switch (msg.command) {
      case 'messages': {
        const kind = fetches.shift() || 'latest';
        const msgs = Array.isArray(msg.messages) ? msg.messages.filter(isMessage) : [];
        if (kind === 'older') {
          list.prepend(msgs);
          hasMore = !!msg.has_more;
          more.hidden = true;
        } else {
          const first = !loaded;
          for (const m of msgs) if (list.add(m) && !first) notifyParent(m);
          if (first) {
            hasMore = !!msg.has_more;
            loaded = true;
            list.scrollToBottom();
          }
        }
        markRead();
        break;
      }
      case 'new_message':
        if (list.add(msg.message)) {
          notifyParent(msg.message);
          if (msg.message.author !== consumer) showTyping(false);
          markRead();
        }
        break;
      case 'typing':
        showTyping(!!msg.typing);
        break;
      case 'read':
        if (msg.by !== consumer) list.markSeen(Number(msg.up_to) || 0);
        break;
      case 'error':
        console.warn('livechat:', msg.error, msg.detail);
        // The business deleted this conversation: a new socket starts a
        // new one, and onopen sends what is still pending. The old
        // messages are gone (and their ids may be used again).
        if (msg.error === 'not_found') {
          list.forgetSent();
          loaded = false;
          hasMore = false;
          lastReadSent = 0;
          sock.reconnect();
        }
        break;
    }
  },
});

let typingTimer = 0;
function showTyping(on) {
  clearTimeout(typingTimer);
  typingEl.textContent = on ? `${style.chatbotName || 'They'} is typing…` : '';
  if (on) typingTimer = setTimeout(() => showTyping(false), 8000);
}

/** Tells the widget (if framed) that the business wrote. */
function notifyParent(m) {
  if (!framed || m.author === consumer) return;
  window.parent.postMessage({ source: 'livechat', type: 'new_message' }, '*');
}

/**
 * Whether the visitor can see the conversation: the page is visible, and
 * our widget says it is open; without a widget, the window is on its own
 * or, framed by some other page, has the focus.
 */
function looking() {
  if (document.visibilityState !== 'visible') return false;
  if (widgetOpen !== null) return widgetOpen;
  return !framed || document.hasFocus();
}

/** Sends a read receipt for the business's newest message while looking. */
function markRead() {
  if (!looking()) return;
  const id = list.lastOtherId();
  if (id > lastReadSent && sock.send({ command: 'read', up_to: id })) lastReadSent = id;
}
document.addEventListener('visibilitychange', markRead);
window.addEventListener('focus', markRead);

// The widget tells the window when it is opened or closed.
window.addEventListener('message', (ev) => {
  if (ev.source !== window.parent || !ev.data || ev.data.source !== 'livechat') return;
  if (ev.data.type === 'state') {
    widgetOpen = !!ev.data.open;
    if (widgetOpen) {
      markRead();
      text.focus();
    }
  }
});
if (framed) {
  window.parent.postMessage({ source: 'livechat', type: 'ready', color: style.headerBackgroundColor }, '*');
  // Escape inside the frame closes the widget too.
  document.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape') window.parent.postMessage({ source: 'livechat', type: 'close' }, '*');
  });
} else if (matchMedia('(pointer: fine)').matches) {
  text.focus(); // not on phones, where it would pop the keyboard up
}

// Typing: tell the business while the visitor types; stop after a pause.
let typingSent = false;
let stopTimer = 0;
function setTyping(on) {
  clearTimeout(stopTimer);
  if (on) stopTimer = setTimeout(() => setTyping(false), 3000);
  if (on === typingSent) return;
  if (sock.send({ command: 'typing', typing: on })) typingSent = on;
}
text.addEventListener('input', () => setTyping(text.value.trim() !== ''));

function send() {
  const content = text.value.trim();
  if (!content) return;
  if ([...content].length > maxContent) {
    // The server would refuse it (bad_field, naming no client_id).
    showTyping(false);
    typingEl.textContent = `Your message is too long: at most ${maxContent} characters.`;
    return;
  }
  const clientId = uuid();
  list.addPending(clientId, content);
  sock.send({ command: 'new_message', message: { content, client_id: clientId } });
  text.value = '';
  fit();
  setTyping(false);
  maybeAskEmail();
}
bindComposer(form, text, send);

attach.addEventListener('change', async () => {
  const files = [...attach.files];
  attach.value = '';
  for (const f of files) await sendFileWithProgress(list, f, room);
  maybeAskEmail();
});

// Older messages load when the visitor scrolls to the top.
log.addEventListener('scroll', () => {
  if (log.scrollTop < 40 && hasMore && loaded && !fetches.includes('older')) {
    const before = list.oldestId();
    if (before && sock.send({ command: 'fetch_messages', before, limit: 50 })) {
      fetches.push('older');
      more.hidden = false;
    }
  }
});

// Optional email, asked once after the first message.
const emailKey = `livechat-email:${username}:${consumer}`;
function storedEmail() {
  try { return localStorage.getItem(emailKey); } catch (e) { return 'unavailable'; }
}
function maybeAskEmail() {
  if (!storedEmail() && emailForm.hidden) emailForm.hidden = false;
}
function rememberEmail(v) {
  try { localStorage.setItem(emailKey, v); } catch (e) { /* storage off */ }
  emailForm.hidden = true;
}
document.getElementById('email-close').addEventListener('click', () => {
  rememberEmail('-');
  text.focus();
});
emailForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const email = emailInput.value.trim();
  if (!email || !emailInput.checkValidity()) {
    emailInput.setAttribute('aria-invalid', 'true');
    emailInput.focus();
    return;
  }
  // The single chat socket has no email command; SPEC's room socket stores
  // an email for an existing room, so a short-lived one carries it.
  const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + `/ws/room/${encodeURIComponent(username)}`);
  ws.addEventListener('open', () => ws.send(JSON.stringify({ command: 'new_room', consumer, email })));
  ws.addEventListener('message', () => ws.close(1000));
  setTimeout(() => ws.close(1000), 5000);
  rememberEmail(email);
  typingEl.textContent = 'Thanks — we will answer by email if you leave.';
  text.focus();
});

/** Refreshes online status and style (the admin may have changed it). */
async function refreshDetails() {
  const res = await api('GET', `/chatbot/details/${encodeURIComponent(username)}`);
  if (!res.ok) return;
  style = res.data.chatbot || style;
  applyChatbotStyle(root, style);
  statusEl.classList.toggle('is-online', !!res.data.online);
  statusEl.textContent = res.data.online ? 'Online' : 'Away — leave a message';
}
setInterval(() => { if (document.visibilityState === 'visible') refreshDetails(); }, 30000);
