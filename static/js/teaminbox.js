// The team inbox's parts of /messages (SPEC Part 2, "Conversations in a
// team inbox"): the view select (open, mine, unassigned, resolved, all),
// the open room's "Assign to" and "Resolve"/"Reopen", the composer's
// "Note" mode (private notes), and the "On the site now" list of visitors
// with the chat open. inbox.js owns the rooms and the sockets and calls in
// here; everything here is written as text, never as HTML.
import { adminApi } from './api.js';

/**
 * @typedef {object} TeamHooks
 * @property {Map<string, any>} rooms the inbox's rooms by consumer
 * @property {(consumer: string) => void} open opens a conversation
 * @property {() => string|null} openConsumer the open conversation
 * @property {() => void} changed the view changed: render the list again
 * @property {(r: any) => string} displayName a room's name in the list
 */

export class Team {
  /** @param {TeamHooks} h */
  constructor(h) {
    this.h = h;
    this.me = 0;
    /** @type {{id: number, name: string}[]} */
    this.agents = [];
    /** consumer → {consumer, has_messages}: visitors with the chat open */
    this.visitors = new Map();
    /** consumer → the number of the last presence news about it, so a
     * slower REST answer never brings back a visitor who has left */
    this.news = new Map();
    this.seq = 0;
    this.visitorsTimer = 0;
    this.viewEl = document.getElementById('view');
    this.assignEl = document.getElementById('assign');
    this.resolveEl = document.getElementById('resolve');
    this.noteEl = document.getElementById('note');
    this.textEl = document.getElementById('text');
    this.visitorsEl = document.getElementById('visitors');
    this.visitorsCount = document.getElementById('visitors-count');
    this.visitorsEmpty = document.getElementById('visitors-empty');
    this.view = this.viewEl.value;

    this.viewEl.addEventListener('change', () => {
      this.view = this.viewEl.value;
      this.h.changed();
    });
    this.assignEl.addEventListener('change', () => {
      const v = this.assignEl.value;
      this.patch({ assignee_id: v === '' ? null : Number(v) });
    });
    this.resolveEl.addEventListener('click', () => {
      const r = this.h.rooms.get(this.h.openConsumer());
      if (r) this.patch({ status: r.status === 'resolved' ? 'open' : 'resolved' });
    });
    this.noteEl.addEventListener('change', () => this.showNoteMode());
    this.visitorsEl.addEventListener('click', (ev) => {
      const b = ev.target.closest('button[data-consumer]');
      if (b) this.h.open(b.dataset.consumer);
    });
    this.loadAgents();
  }

  /** Who I am and who else is in the team, for "Assign to" and "Mine". */
  async loadAgents() {
    const [me, agents] = await Promise.all([adminApi('GET', '/accounts/api/me'), adminApi('GET', '/accounts/api/agents')]);
    if (me.ok && me.data.user) this.me = me.data.user.id;
    if (agents.ok && Array.isArray(agents.data.agents)) {
      this.agents = agents.data.agents.map((a) => ({ id: a.id, name: a.name || a.username }));
    }
    this.h.changed();
    const r = this.h.rooms.get(this.h.openConsumer());
    if (r) this.renderHead(r);
  }

  /** Whether the list shows room r in the current view. */
  shows(r) {
    if (!r.last_message) return false; // a conversation starts with a message
    const resolved = r.status === 'resolved';
    switch (this.view) {
      case 'open': return !resolved;
      case 'mine': return !resolved && !!r.assignee && r.assignee.id === this.me;
      case 'unassigned': return !resolved && !r.assignee;
      case 'resolved': return resolved;
      default: return true;
    }
  }

  /** What the list says when the view has no conversation. */
  emptyText() {
    return {
      open: 'No open conversations.',
      mine: 'No open conversations are assigned to you.',
      unassigned: 'No open conversations wait for someone.',
      resolved: 'No resolved conversations.',
    }[this.view] || 'No conversations.';
  }

  /** The open room's header controls. */
  renderHead(r) {
    const sel = this.assignEl;
    const want = r.assignee ? String(r.assignee.id) : '';
    const opts = [['', 'Nobody']];
    if (this.me) opts.push([String(this.me), 'Me']);
    for (const a of this.agents) if (a.id !== this.me) opts.push([String(a.id), a.name]);
    // An assignee we do not know (joined since the page loaded): by name.
    if (want && !opts.some(([v]) => v === want)) opts.push([want, r.assignee.name || 'Someone']);
    const same = sel.options.length === opts.length && opts.every(([v, t], i) => sel.options[i].value === v && sel.options[i].text === t);
    if (!same) {
      sel.replaceChildren(...opts.map(([v, t]) => new Option(t, v)));
    }
    sel.value = want;
    const resolved = r.status === 'resolved';
    this.resolveEl.textContent = resolved ? 'Reopen' : 'Resolve';
    this.resolveEl.dataset.state = resolved ? 'resolved' : 'open';
  }

  /** Changes the open room; the answer (and room_updated) update the page. */
  async patch(body) {
    const consumer = this.h.openConsumer();
    if (!consumer) return;
    const res = await adminApi('PATCH', `/chatbot/api/rooms/${encodeURIComponent(consumer)}`, body);
    if (!res.ok && res.status !== 401) {
      const fields = res.data.errors ? Object.values(res.data.errors).join(' ') : '';
      alert(fields || res.data.detail || 'The conversation could not be changed.');
      const r = this.h.rooms.get(consumer);
      if (r) this.renderHead(r);
    }
  }

  /** Whether the composer is in "Note" mode. */
  noteMode() {
    return this.noteEl.checked;
  }

  showNoteMode() {
    const on = this.noteEl.checked;
    document.getElementById('composer').classList.toggle('is-note', on);
    this.textEl.placeholder = on ? 'Write a private note (only your team sees it)…' : 'Write a reply…';
  }

  // ---- visitors on the site now ----

  /** Reads the list afresh (on every (re)connect of the inbox). */
  async refreshVisitors() {
    const asked = ++this.seq;
    const res = await adminApi('GET', '/chatbot/api/visitors');
    if (!res.ok || !Array.isArray(res.data.visitors)) return;
    const fresher = (c) => (this.news.get(c) || 0) > asked; // a frame came after the question
    for (const c of [...this.visitors.keys()]) if (!fresher(c)) this.visitors.delete(c);
    for (const v of res.data.visitors) {
      if (v && typeof v.consumer === 'string' && !fresher(v.consumer)) this.visitors.set(v.consumer, { consumer: v.consumer, has_messages: !!v.has_messages });
    }
    // News older than this answer matters no more.
    for (const [c, n] of this.news) if (n <= asked) this.news.delete(c);
    this.renderVisitors();
  }

  /** A new_room frame: someone opened the chat. */
  visitorSeen(room, known) {
    if (!room || typeof room.consumer !== 'string') return;
    if (room.online) this.presence(room.consumer, true, known);
  }

  /** A presence frame. */
  presence(consumer, online, known) {
    this.news.set(consumer, ++this.seq);
    if (online) {
      const v = this.visitors.get(consumer) || { consumer, has_messages: known };
      this.visitors.set(consumer, v);
    } else {
      this.visitors.delete(consumer);
    }
    this.renderVisitors();
  }

  /** A message arrived in a room: its visitor has written. */
  hasMessages(consumer) {
    const v = this.visitors.get(consumer);
    if (v && !v.has_messages) {
      v.has_messages = true;
      this.renderVisitors();
    }
  }

  /** Redraws the visitors list soon: a burst of presence frames draws once. */
  renderVisitors() {
    if (!this.visitorsTimer) this.visitorsTimer = setTimeout(() => this.drawVisitors(), 100);
  }

  drawVisitors() {
    this.visitorsTimer = 0;
    const items = [];
    for (const v of this.visitors.values()) {
      const li = document.createElement('li');
      const r = this.h.rooms.get(v.consumer);
      const name = r ? this.h.displayName(r) : `Visitor ${v.consumer.length > 12 ? v.consumer.slice(0, 8) : v.consumer}`;
      if (v.has_messages && r) {
        const b = document.createElement('button');
        b.type = 'button';
        b.className = 'visitor';
        b.dataset.consumer = v.consumer;
        b.textContent = name;
        li.append(b);
      } else {
        const s = document.createElement('span');
        s.className = 'visitor';
        s.textContent = `${name} · has not written yet`;
        li.append(s);
      }
      items.push(li);
    }
    this.visitorsEl.replaceChildren(...items);
    this.visitorsCount.textContent = String(items.length);
    this.visitorsEmpty.hidden = items.length > 0;
  }
}
