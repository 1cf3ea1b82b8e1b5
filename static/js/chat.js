// The visitor's chat window, /chatbot/{username}/{consumer}. The
// conversation (one socket, /ws/chat/{username}/{consumer}, which
// reconnects by itself) is conversation.js; this page adds the chatbot's
// style and online status, the optional email, and the handshake with a
// parent page (widget.js), which it tells about new messages.
import { api } from './api.js';
import { applyChatbotStyle } from './style.js';
import { Conversation } from './conversation.js';
import { awayStatus, emailPrompt } from './away.js';
import { setupTranscript } from './transcript.js';

const root = document.getElementById('chat');
const username = root.dataset.username;
const consumer = root.dataset.consumer;
const framed = window.parent !== window;
let style = JSON.parse(root.dataset.chatbot || '{}');
applyChatbotStyle(root, style);

const offline = document.getElementById('offline');
const statusEl = document.getElementById('status');
const typingEl = document.getElementById('typing');
const text = document.getElementById('text');
const emailForm = document.getElementById('email-form');
const emailInput = document.getElementById('email');
const emailLabel = document.getElementById('email-label');

/**
 * Availability, as GET /chatbot/details says it (the page starts with the
 * server's view: data-online is "open and an agent online"); connected is
 * whether our socket is up, so a reconnecting window never claims Online.
 */
let details = { away: root.dataset.online !== 'true', next_open: null };
let connected = true;
function renderStatus() {
  const s = awayStatus(details, connected);
  statusEl.classList.toggle('is-online', s.online);
  statusEl.textContent = s.text;
  updateEmailForm();
}

/**
 * What our widget last said: true (open), false (closed), or null while no
 * widget has spoken (the window opened directly, or framed by another page).
 */
let widgetOpen = null;

const conv = new Conversation({
  username,
  me: consumer,
  asVisitor: true,
  maxContent: Number(root.dataset.maxContent) || 4000,
  maxUpload: Number(root.dataset.maxUpload) || 0,
  typingLabel: () => `${style.chatbotName || 'They'} is typing…`,
  tooLong: (max) => `Your message is too long: at most ${max} characters.`,
  looking,
  onPage(msgs, first) {
    const seen = readMark();
    for (const m of msgs) {
      // On the first load, answers past what this visitor last read came
      // while they were away: the widget's button shows the dot.
      if (conv.list.add(m) && (!first || (seen !== null && m.id > seen && !m.auto))) notifyParent(m);
    }
  },
  onRead: rememberRead,
  onMessage(m) {
    if (conv.list.add(m)) {
      notifyParent(m);
      if (m.author !== consumer) conv.showTyping(false);
      conv.markRead();
    }
  },
  // The business deleted (closed) this conversation: say so, and let the
  // visitor start a new one.
  onNotFound: showClosed,
  onStatus(on) {
    offline.hidden = on;
    connected = on;
    renderStatus();
    if (on) {
      refreshDetails();
      sendVisitor();
    }
  },
  onSent: () => updateEmailForm(),
});
conv.open(consumer);

const closedEl = document.getElementById('closed');
const composer = document.getElementById('composer');
/** What the visitor wrote that the closed conversation did not take. */
let unsent = '';

/**
 * The conversation was closed by the business: the socket is closed (a
 * reconnect would quietly start a new room), the messages stay on screen
 * for the visitor to read, and what was still unsent goes back into the
 * composer for the new conversation.
 */
function showClosed() {
  if (!closedEl.hidden) return;
  const pending = [...conv.list.pending.entries()].filter(([id]) => !id.startsWith('upload-'));
  unsent = pending.map(([, p]) => p.content).join('\n');
  for (const [id] of pending) conv.list.dropPending(id);
  conv.close();
  conv.showTyping(false);
  offline.hidden = true;
  composer.hidden = true;
  emailForm.hidden = true;
  closedEl.hidden = false;
  document.getElementById('new-conversation').focus();
}

// A new conversation under the same visitor id: the server makes a new room
// (the old messages are gone, and their ids may be used again).
document.getElementById('new-conversation').addEventListener('click', () => {
  closedEl.hidden = true;
  composer.hidden = false;
  conv.open(consumer);
  if (unsent) {
    text.value = (unsent + (text.value ? '\n' + text.value : '')).trim();
    conv.fit();
    unsent = '';
  }
  text.focus();
});

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
window.addEventListener('focus', () => conv.markRead());

// The widget tells the window when it is opened or closed.
window.addEventListener('message', (ev) => {
  if (ev.source !== window.parent || !ev.data || ev.data.source !== 'livechat') return;
  if (ev.data.type === 'state') {
    if (typeof ev.data.url === 'string') {
      const next = { url: ev.data.url, title: String(ev.data.title || ''), ref: String(ev.data.ref || '') };
      if (next.url !== page.url || next.title !== page.title) {
        page = next;
        sendVisitor();
      }
    }
    widgetOpen = !!ev.data.open;
    if (widgetOpen) {
      conv.markRead();
      text.focus();
    }
  }
});
if (framed) {
  window.parent.postMessage({ source: 'livechat', type: 'ready', color: style.headerBackgroundColor, text: style.headerTextColor }, '*');
  // Escape inside the frame closes the widget too.
  document.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape') window.parent.postMessage({ source: 'livechat', type: 'close' }, '*');
  });
} else if (matchMedia('(pointer: fine)').matches) {
  text.focus(); // not on phones, where it would pop the keyboard up
}

// The last business message this visitor read (null: not known), so a
// returning visitor's widget shows a dot for answers that came meanwhile.
const readKey = `livechat-read:${username}:${consumer}`;
function readMark() {
  try {
    const v = localStorage.getItem(readKey);
    return v === null ? null : Number(v) || 0;
  } catch (e) { return null; }
}
function rememberRead(id) {
  try { localStorage.setItem(readKey, String(id)); } catch (e) { /* storage off */ }
}
if (readMark() === null) rememberRead(0);

// The email, asked for as the business's askEmail says: "always" before
// the first message, "away" while away, "never" not at all; once given or
// declined, not again.
const emailKey = `livechat-email:${username}:${consumer}`;
function storedEmail() {
  try { return localStorage.getItem(emailKey); } catch (e) { return 'unavailable'; }
}
function updateEmailForm() {
  const prompt = storedEmail() ? '' : emailPrompt(style.askEmail, details.away);
  if (!prompt) {
    emailForm.hidden = true;
    return;
  }
  emailLabel.textContent = prompt;
  emailForm.hidden = false;
}
function rememberEmail(v) {
  try { localStorage.setItem(emailKey, v); } catch (e) { /* storage off */ }
  emailForm.hidden = true;
  transcript.update();
}
const transcript = setupTranscript(root, () => (storedEmail() || '').includes('@'));
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
  const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + `/ws/room/${encodeURIComponent(username)}?as=visitor`);
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
  details = res.data;
  renderStatus();
}
renderStatus();
setInterval(() => { if (document.visibilityState === 'visible') refreshDetails(); }, 30000);

// ---- who the visitor is --------------------------------------------------
//
// The window tells the business the page the chat is open on (from the
// widget, or this window's own address when opened directly), the
// referrer, language and time zone, and the name if given: the
// {"command":"visitor"} frame, sent on every (re)connect and page change.
// The server refuses a field over 2000 characters or a URL that is not
// http(s), so those are left out here rather than lose the whole report.
let page = framed ? { url: '', title: '', ref: '' } : { url: location.href, title: document.title, ref: document.referrer };
const nameKey = `livechat-name:${username}:${consumer}`;
function storedName() {
  try { return localStorage.getItem(nameKey) || ''; } catch (e) { return ''; }
}
function field(s) { return typeof s === 'string' && s.length <= 2000 ? s : ''; }
function webURL(s) {
  try { return ['http:', 'https:'].includes(new URL(s).protocol) ? field(s) : ''; } catch (e) { return ''; }
}
function sendVisitor() {
  if (!conv.sock) return;
  let timezone = '';
  try { timezone = Intl.DateTimeFormat().resolvedOptions().timeZone || ''; } catch (e) { /* unknown */ }
  const frame = {
    command: 'visitor',
    page_url: webURL(page.url),
    page_title: field(page.title),
    referrer: webURL(page.ref),
    language: field(navigator.language || ''),
    timezone: field(timezone),
  };
  const name = storedName();
  if (name) frame.name = field(name);
  conv.sock.send(frame);
}
const nameInput = document.getElementById('visitor-name');
if (nameInput) {
  nameInput.value = storedName();
  emailForm.addEventListener('submit', () => {
    const name = nameInput.value.trim().slice(0, 100);
    if (name === storedName()) return;
    try { localStorage.setItem(nameKey, name); } catch (e) { /* storage off */ }
    sendVisitor();
  });
}
