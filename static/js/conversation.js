// One conversation on a page: its message list, its chat socket
// (/ws/chat/{username}/{consumer}), the composer (send, attach, typing),
// read receipts and "Seen", and history paging (older pages on scrolling to
// the top). The visitor window and the inbox both use it; what is theirs
// alone (the inbox's rooms, the visitor's widget and email) stays in their
// page, and hears of the conversation through the hooks below.
//
// The page provides these elements: #log (the scroller), #messages (the
// list), #more ("Loading earlier messages…"), #typing, #composer (the form),
// #text and #attach; #notice (optional) says when messages wait for the
// rate limit.
import { ReconnectingSocket } from './socket.js';
import { isMessage, MessageList, uuid } from './messages.js';
import { sendFileWithProgress } from './upload.js';

/** The new_message frame of a pending message ({content, private?}). */
function newMessageFrame(clientId, p) {
  const message = { content: p.content, client_id: clientId };
  if (p.private) message.private = true;
  return { command: 'new_message', message };
}

/** Messages asked for per page of history. */
const pageSize = 50;

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

/**
 * Grows a textarea with its content, up to its CSS max-height.
 * @param {HTMLTextAreaElement} ta
 * @returns {() => void} fits the textarea again (after setting its value)
 */
export function autoGrow(ta) {
  const fit = () => {
    ta.style.removeProperty('height');
    if (ta.value.includes('\n') || ta.scrollHeight > ta.clientHeight + 2) ta.style.height = ta.scrollHeight + 2 + 'px';
  };
  ta.addEventListener('input', fit);
  return fit;
}

/**
 * @typedef {object} ConversationHooks
 * @property {string} username the business's username
 * @property {string} me the author name of this side's messages (the
 *   consumer id for the visitor, the username for the admin)
 * @property {boolean} [asVisitor] this side is the visitor: sockets and
 *   uploads say ?as=visitor, so a browser signed in to the business still
 *   talks as a visitor here
 * @property {number} maxContent the server's message limit, in characters
 * @property {() => string} typingLabel what shows while the other side types
 * @property {(max: number) => string} tooLong why an over-long message is refused
 * @property {number} [maxUpload] the server's file limit in bytes: larger
 *   files are refused before uploading
 * @property {() => boolean} looking whether this side can see the
 *   conversation now (read receipts are sent only then)
 * @property {(msgs: object[], first: boolean) => void} onPage a page of the
 *   latest messages (the first load, or the catch-up after a reconnect):
 *   the page adds them to the list
 * @property {(m: any) => void} onMessage a new_message frame's message
 *   (unchecked): the page adds it to the list
 * @property {() => void} onNotFound the conversation no longer exists
 * @property {(id: number) => void} [onRead] a read receipt up to id went out
 * @property {(online: boolean) => void} [onStatus] the socket went on/offline
 * @property {(m: object|null) => void} [onUploaded] one attached file is
 *   sent (the Message), or failed (null)
 * @property {() => boolean} [isNote] the inbox composer is in "Note" mode:
 *   what is sent now is a private note (agents only)
 * @property {() => void} [onSent] a message was sent, or the attached files
 */

/**
 * The open conversation of a page. open() dials its socket; the composer,
 * typing, paging and read receipts are wired once, for whichever
 * conversation is open.
 */
export class Conversation {
  /** @param {ConversationHooks} hooks */
  constructor(hooks) {
    this.h = hooks;
    this.log = document.getElementById('log');
    this.more = document.getElementById('more');
    this.typingEl = document.getElementById('typing');
    this.form = document.getElementById('composer');
    this.text = document.getElementById('text');
    this.attach = document.getElementById('attach');
    this.list = new MessageList(document.getElementById('messages'), this.log, (m) => m.author === hooks.me);
    this.fit = autoGrow(this.text);
    /** @type {ReconnectingSocket|null} */
    this.sock = null;
    this.consumer = '';
    /** Requests in flight on the socket, answered in order: "latest" or "older". */
    this.fetches = [];
    this.hasMore = false;
    this.loaded = false;
    this.lastReadSent = 0;
    this.typingTimer = 0; // hides the other side's typing
    this.typingSent = false; // what we last told the other side
    this.stopTimer = 0; // stops our typing after a pause
    this.noticeEl = document.getElementById('notice');
    // Rate limit: while throttled, pending messages go out one at a time,
    // the next when the last is accepted, after a backoff when refused.
    this.throttled = false;
    this.retryTimer = 0;
    this.retryDelay = 0;

    document.addEventListener('visibilitychange', () => this.markRead());
    // Typing: tell the other side while this side types; stop after a pause.
    this.text.addEventListener('input', () => this.setTyping(this.text.value.trim() !== ''));
    bindComposer(this.form, this.text, () => this.send());
    this.attach.addEventListener('change', () => this.sendFiles());
    // Older messages load when the reader scrolls to the top.
    this.log.addEventListener('scroll', () => {
      if (this.log.scrollTop < 40 && this.hasMore && this.loaded && this.sock && !this.fetches.includes('older')) {
        const before = this.list.oldestId();
        if (before && this.sock.send({ command: 'fetch_messages', before, limit: pageSize })) {
          this.fetches.push('older');
          this.more.hidden = false;
        }
      }
    });
  }

  /**
   * Opens the conversation with consumer: clears the list and dials its
   * chat socket (closing the one of the conversation open before).
   * @param {string} consumer
   */
  open(consumer) {
    this.close();
    this.consumer = consumer;
    this.list.clear();
    this.fetches = [];
    this.hasMore = false;
    this.loaded = false;
    this.lastReadSent = 0;
    this.showTyping(false);
    const path = `/ws/chat/${encodeURIComponent(this.h.username)}/${encodeURIComponent(consumer)}` + (this.h.asVisitor ? '?as=visitor' : '');
    this.sock = new ReconnectingSocket(path, {
      onopen: () => this.onOpen(),
      onstatus: (on) => { if (this.h.onStatus) this.h.onStatus(on); },
      onmessage: (msg) => this.onFrame(msg),
    });
  }

  /** Closes the chat socket, if any; the list stays as it is. */
  close() {
    if (this.sock) this.sock.close();
    this.sock = null;
  }

  /** Empties the composer. */
  clearComposer() {
    this.text.value = '';
    this.fit();
  }

  /** @private (Re)connected: fetch the latest page and resend the pending. */
  onOpen() {
    // The first load is one page; after a reconnect, catch up on up to
    // 200 (the server's default), deduplicated by id.
    this.fetches = ['latest'];
    this.more.hidden = true; // an older page asked for on the old socket died with it
    this.sock.send(this.loaded ? { command: 'fetch_messages' } : { command: 'fetch_messages', limit: pageSize });
    for (const [clientId, p] of this.list.pending) {
      if (!clientId.startsWith('upload-')) this.sock.send(newMessageFrame(clientId, p));
    }
  }

  /** @private One frame of the chat socket. */
  onFrame(msg) {
    switch (msg.command) {
      case 'messages': {
        const kind = this.fetches.shift() || 'latest';
        const msgs = Array.isArray(msg.messages) ? msg.messages.filter(isMessage) : [];
        if (kind === 'older') {
          this.list.prepend(msgs);
          this.hasMore = !!msg.has_more;
          this.more.hidden = true;
        } else {
          const first = !this.loaded;
          this.h.onPage(msgs, first);
          if (first) {
            this.hasMore = !!msg.has_more;
            this.loaded = true;
            this.list.scrollToBottom();
          }
        }
        this.markRead();
        break;
      }
      case 'new_message': {
        const cid = msg.message && msg.message.client_id;
        const mine = !!cid && this.list.pending.has(cid);
        this.h.onMessage(msg.message);
        if (mine && this.throttled) this.sendNextPending();
        break;
      }
      case 'typing':
        this.showTyping(!!msg.typing);
        break;
      case 'read':
        if (msg.by !== this.h.me) this.list.markSeen(Number(msg.up_to) || 0);
        break;
      case 'error':
        if (msg.error === 'rate_limited') {
          this.rateLimited();
          break;
        }
        console.warn('livechat:', msg.error, msg.detail);
        if (msg.error === 'not_found') this.h.onNotFound();
        break;
    }
  }

  /**
   * Shows (for up to 8 s) or hides that the other side is typing.
   * @param {boolean} on
   */
  showTyping(on) {
    clearTimeout(this.typingTimer);
    this.typingEl.textContent = on ? this.h.typingLabel() : '';
    if (on) this.typingTimer = setTimeout(() => this.showTyping(false), 8000);
  }

  /**
   * Tells the other side whether this side is typing; "on" lapses after
   * 3 s without another keystroke.
   * @param {boolean} on
   */
  setTyping(on) {
    clearTimeout(this.stopTimer);
    if (on) this.stopTimer = setTimeout(() => this.setTyping(false), 3000);
    if (on === this.typingSent || !this.sock) return;
    if (this.sock.send({ command: 'typing', typing: on })) this.typingSent = on;
  }

  /** Sends a read receipt for the other side's newest message while looking. */
  markRead() {
    if (!this.sock || !this.h.looking()) return;
    const id = this.list.lastOtherId();
    if (id > this.lastReadSent && this.sock.send({ command: 'read', up_to: id })) {
      this.lastReadSent = id;
      if (this.h.onRead) this.h.onRead(id);
    }
  }

  /** @private @returns {[string, {li: HTMLLIElement, content: string}][]} the text messages not yet echoed, oldest first */
  pendingTexts() {
    return [...this.list.pending].filter(([cid]) => !cid.startsWith('upload-'));
  }

  /**
   * @private The server refused a message for the rate limit (the frame
   * does not say which): say so, and send the pending messages again, one
   * at a time, after a backoff. A refused fetch (no message pending) needs
   * nothing.
   */
  rateLimited() {
    const waiting = this.pendingTexts();
    if (!waiting.length) return;
    this.throttled = true;
    for (const [, p] of waiting) p.li.querySelector('.lcw-meta').textContent = 'Waiting to send…';
    this.showNotice('You are sending messages quickly. They will go out in a moment.');
    if (this.retryTimer) return;
    this.retryDelay = Math.min(8000, this.retryDelay ? this.retryDelay * 2 : 1000);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = 0;
      this.sendNextPending();
    }, this.retryDelay);
  }

  /** @private While throttled: sends the oldest pending message, or ends the throttle. */
  sendNextPending() {
    if (this.retryTimer) return; // a refusal's backoff runs
    const next = this.pendingTexts()[0];
    if (!next) {
      this.throttled = false;
      this.retryDelay = 0;
      this.showNotice('');
      return;
    }
    const [clientId, p] = next;
    p.li.querySelector('.lcw-meta').textContent = 'Sending…';
    if (this.sock) this.sock.send(newMessageFrame(clientId, p));
  }

  /** @private Shows (or with '', hides) the notice line. */
  showNotice(text) {
    if (this.noticeEl) {
      this.noticeEl.textContent = text;
      this.noticeEl.hidden = !text;
    } else if (text) {
      this.showTyping(false);
      this.typingEl.textContent = text;
    }
  }

  /** Sends the composer's text, shown as "Sending…" until echoed. */
  send() {
    const content = this.text.value.trim();
    if (!content || !this.sock) return;
    if ([...content].length > this.h.maxContent) {
      // The server would refuse it (bad_field, naming no client_id).
      this.showTyping(false);
      this.typingEl.textContent = this.h.tooLong(this.h.maxContent);
      return;
    }
    const clientId = uuid();
    const li = this.list.addPending(clientId, content);
    // An agent's private note (the inbox's "Note" mode) stays one when resent.
    const p = this.list.pending.get(clientId);
    p.private = !!(this.h.isNote && this.h.isNote());
    if (p.private) li.classList.add('is-note');
    if (this.throttled) {
      // Queued behind the refused ones; it goes out in its turn.
      li.querySelector('.lcw-meta').textContent = 'Waiting to send…';
    } else {
      this.sock.send(newMessageFrame(clientId, p));
    }
    this.clearComposer();
    this.setTyping(false);
    if (this.h.onSent) this.h.onSent();
  }

  /** @private Uploads the attached files one by one. */
  async sendFiles() {
    const files = [...this.attach.files];
    this.attach.value = '';
    for (const f of files) await this.sendFile(f);
    if (this.h.onSent) this.h.onSent();
  }

  /** @private Uploads one file; a failed one offers Retry, which calls this again. */
  async sendFile(f) {
    const m = await sendFileWithProgress(this.list, f, `${this.h.username} ${this.consumer}`, this.h.maxUpload || 0, () => this.sendFile(f), this.h.asVisitor);
    if (this.h.onUploaded) this.h.onUploaded(m);
    return m;
  }
}
