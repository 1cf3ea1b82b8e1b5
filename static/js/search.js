// Inbox search (issue 9): the filter box asks the server
// (GET /chatbot/api/search) once the query has 2 characters or more, and
// shows the matching messages above the conversation list, the matched
// words highlighted. The server matches words and word prefixes, ignoring
// case and accents; the highlighting here folds the same way. Everything
// is built from text nodes and <mark> elements, never HTML.
import { adminApi } from './api.js';
import { formatTime, isMessage } from './messages.js';

const minQuery = 2;
const debounceMs = 250;
const pageSize = 20;

/** Lowercase, without accents: "Glüten" → "gluten". */
export function fold(s) {
  return s.normalize('NFD').replace(/\p{M}+/gu, '').toLowerCase();
}

/** The query's words, folded: what a word must start with to be marked. */
export function queryWords(q) {
  return fold(q).split(/[^\p{L}\p{N}]+/u).filter(Boolean);
}

/**
 * Appends text to el, each word that starts with one of words in a <mark>.
 * @param {Node} el
 * @param {string} text
 * @param {string[]} words folded
 */
export function appendMarked(el, text, words) {
  let last = 0;
  for (const m of text.matchAll(/[\p{L}\p{N}\p{M}]+/gu)) {
    const w = fold(m[0]);
    if (!words.some((q) => w.startsWith(q))) continue;
    if (m.index > last) el.append(document.createTextNode(text.slice(last, m.index)));
    const mark = document.createElement('mark');
    mark.textContent = m[0];
    el.append(mark);
    last = m.index + m[0].length;
  }
  if (last < text.length) el.append(document.createTextNode(text.slice(last)));
}

/** Marks the words in every text node under root (a rendered bubble). */
export function markIn(root, words) {
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  const nodes = [];
  while (walker.nextNode()) if (!walker.currentNode.parentElement.closest('mark')) nodes.push(walker.currentNode);
  for (const n of nodes) {
    const frag = document.createDocumentFragment();
    appendMarked(frag, n.data, words);
    n.replaceWith(frag);
  }
}

/** A snippet of text around its first marked word, at most ~140 chars. */
function snippet(text, words) {
  const one = text.replace(/\s+/g, ' ');
  let at = 0;
  for (const m of one.matchAll(/[\p{L}\p{N}\p{M}]+/gu)) {
    const w = fold(m[0]);
    if (words.some((q) => w.startsWith(q))) { at = m.index; break; }
  }
  const from = Math.max(0, at - 40);
  return (from ? '…' : '') + one.slice(from, from + 140) + (one.length > from + 140 ? '…' : '');
}

/**
 * Wires the search to the inbox.
 * @param {object} o
 * @param {HTMLInputElement} o.input the filter box
 * @param {HTMLElement} o.before the element the results go before (the list)
 * @param {(r: object) => string} o.label how a result's conversation is named
 * @param {(r: object, words: string[]) => void} o.open opens a result
 */
export function initSearch(o) {
  const box = document.createElement('section');
  box.className = 'search-results';
  box.id = 'search-results';
  box.setAttribute('aria-label', 'Messages found');
  box.hidden = true;
  const head = document.createElement('h2');
  head.className = 'search-head';
  head.textContent = 'Messages';
  const list = document.createElement('ul');
  list.className = 'search-list';
  const status = document.createElement('p');
  status.className = 'search-status';
  status.setAttribute('role', 'status');
  const more = document.createElement('button');
  more.type = 'button';
  more.className = 'btn btn-secondary btn-small search-more';
  more.textContent = 'More results';
  more.hidden = true;
  box.append(head, list, status, more);
  o.before.before(box);

  let timer = 0;
  let seq = 0; // the newest request; older answers are dropped
  let words = [];
  let q = '';
  let oldest = 0;

  async function run(append) {
    const mine = ++seq;
    const params = new URLSearchParams({ q, limit: String(pageSize) });
    if (append && oldest) params.set('before', String(oldest));
    status.textContent = append ? 'Loading…' : 'Searching…';
    more.hidden = true;
    const res = await adminApi('GET', '/chatbot/api/search?' + params);
    if (mine !== seq || box.hidden) return;
    if (!append) list.textContent = '';
    if (!res.ok) {
      status.textContent = (res.data && res.data.detail) || 'The search failed.';
      return;
    }
    const results = Array.isArray(res.data.results) ? res.data.results : [];
    for (const r of results) {
      if (!r || typeof r.consumer !== 'string' || !isMessage(r.message)) continue;
      list.append(item(r));
      oldest = r.message.id;
    }
    status.textContent = list.childElementCount ? '' : 'No matches';
    more.hidden = !res.data.has_more;
  }

  function item(r) {
    const li = document.createElement('li');
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'search-hit';
    b.dataset.consumer = r.consumer;
    b.dataset.id = String(r.message.id);
    const top = document.createElement('span');
    top.className = 'search-hit-top';
    const who = document.createElement('span');
    who.className = 'search-hit-who';
    appendMarked(who, o.label(r), words);
    const when = document.createElement('span');
    when.className = 'search-hit-when';
    when.textContent = formatTime(r.message.created);
    top.append(who, when);
    const text = document.createElement('span');
    text.className = 'search-hit-text';
    appendMarked(text, snippet(r.message.content || '', words), words);
    b.append(top, text);
    b.addEventListener('click', () => o.open(r, words));
    li.append(b);
    return li;
  }

  o.input.addEventListener('input', () => {
    clearTimeout(timer);
    const v = o.input.value.trim();
    if ([...v].length < minQuery) {
      seq++;
      box.hidden = true;
      list.textContent = '';
      return;
    }
    timer = setTimeout(() => {
      q = [...v].slice(0, 200).join('');
      words = queryWords(q);
      oldest = 0;
      box.hidden = false;
      run(false);
    }, debounceMs);
  });
  more.addEventListener('click', () => run(true));
}

/**
 * Shows message id of the conversation open in conv: loads older pages
 * until it is there (at most maxPages), then scrolls to it and marks the
 * words in it.
 * @param {object} conv the Conversation
 * @param {string} consumer
 * @param {number} id
 * @param {string[]} words
 */
export function showMessage(conv, consumer, id, words) {
  const maxPages = 40;
  let pages = 0;
  const started = Date.now();
  const tick = () => {
    if (conv.consumer !== consumer || Date.now() - started > 20000) return;
    const e = conv.list.byId.get(id);
    if (e) {
      const bubble = e.li.querySelector('.lcw-bubble');
      if (bubble) markIn(bubble, words);
      e.li.classList.add('is-hit');
      e.li.scrollIntoView({ block: 'center' });
      return;
    }
    if (conv.loaded && conv.sock && !conv.fetches.length) {
      if (!conv.hasMore || pages >= maxPages) return; // not there (deleted meanwhile)
      const before = conv.list.oldestId();
      if (before && conv.sock.send({ command: 'fetch_messages', before, limit: 100 })) {
        conv.fetches.push('older');
        conv.more.hidden = false;
        pages++;
      }
    }
    setTimeout(tick, 60);
  };
  tick();
}
