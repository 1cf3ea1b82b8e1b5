// Canned replies in the inbox: typing "/" at the start of the composer
// offers the business's canned replies by shortcut in a small list
// (↑/↓ to move, Enter or Tab to insert, Escape to close, or a click);
// choosing one puts its content in the composer. The "Canned replies"
// dialog lists, adds, edits and deletes them (GET/POST/PUT/DELETE
// /chatbot/api/canned). Everything is written as text, never as HTML.
import { adminApi } from './api.js';

/** @type {{id: number, shortcut: string, content: string}[]} */
let canned = [];
let loaded = null;

/** Loads the canned replies (once, and again after a change). */
function load(force) {
  if (!loaded || force) {
    loaded = adminApi('GET', '/chatbot/api/canned').then((res) => {
      if (res.ok && Array.isArray(res.data.canned)) canned = res.data.canned;
    });
  }
  return loaded;
}

/**
 * Hooks the "/" popup into a composer's textarea (the popup is #canned-pop
 * beside it) and the management dialog into #canned-manage.
 * @param {HTMLTextAreaElement} text
 */
export function attachCanned(text) {
  const pop = document.getElementById('canned-pop');
  const form = text.form;
  let matches = [];
  let active = 0;

  function close() {
    pop.hidden = true;
    matches = [];
    text.removeAttribute('aria-activedescendant');
  }

  function show() {
    const m = /^\/([a-z0-9_-]*)$/i.exec(text.value);
    if (!m) return close();
    const q = m[1].toLowerCase();
    matches = canned.filter((c) => c.shortcut.startsWith(q)).slice(0, 8);
    if (!matches.length) return close();
    active = Math.min(active, matches.length - 1);
    pop.replaceChildren(...matches.map((c, i) => {
      const li = document.createElement('li');
      li.id = `canned-opt-${i}`;
      li.setAttribute('role', 'option');
      li.setAttribute('aria-selected', String(i === active));
      li.dataset.index = String(i);
      const sc = document.createElement('strong');
      sc.textContent = '/' + c.shortcut;
      const body = document.createElement('span');
      body.textContent = c.content.length > 80 ? c.content.slice(0, 80) + '…' : c.content;
      li.append(sc, ' ', body);
      return li;
    }));
    pop.hidden = false;
    text.setAttribute('aria-activedescendant', `canned-opt-${active}`);
  }

  function insert(i) {
    const c = matches[i];
    if (!c) return;
    text.value = c.content;
    close();
    text.focus();
    text.setSelectionRange(text.value.length, text.value.length);
    // The composer grows to fit and the typing state follows input.
    text.dispatchEvent(new Event('input', { bubbles: true }));
  }

  text.addEventListener('input', () => {
    if (text.value.startsWith('/')) {
      active = 0;
      load().then(show);
    } else if (!pop.hidden) {
      close();
    }
  });
  // On the form, in the capture phase: before the composer's own Enter
  // (which sends) sees the key.
  form.addEventListener('keydown', (ev) => {
    if (pop.hidden || ev.target !== text) return;
    if (ev.key === 'ArrowDown' || ev.key === 'ArrowUp') {
      active = (active + (ev.key === 'ArrowDown' ? 1 : matches.length - 1)) % matches.length;
      show();
    } else if ((ev.key === 'Enter' && !ev.shiftKey) || ev.key === 'Tab') {
      insert(active);
    } else if (ev.key === 'Escape') {
      close();
    } else {
      return;
    }
    ev.preventDefault();
    ev.stopPropagation();
  }, true);
  pop.addEventListener('mousedown', (ev) => ev.preventDefault()); // keep the focus in the composer
  pop.addEventListener('click', (ev) => {
    const li = ev.target.closest('li[data-index]');
    if (li) insert(Number(li.dataset.index));
  });
  text.addEventListener('blur', () => close());

  manageDialog();
}

/** The "Canned replies" dialog: list, add, edit, delete. */
function manageDialog() {
  const dialog = document.getElementById('canned-dialog');
  const list = document.getElementById('canned-list');
  const form = document.getElementById('canned-form');
  const shortcut = document.getElementById('canned-shortcut');
  const content = document.getElementById('canned-content');
  const error = document.getElementById('canned-error');
  let editing = 0;

  function showError(msg) {
    error.textContent = msg;
    error.hidden = !msg;
  }

  function render() {
    if (!canned.length) {
      const li = document.createElement('li');
      li.className = 'hint';
      li.textContent = 'No canned replies yet.';
      list.replaceChildren(li);
      return;
    }
    list.replaceChildren(...canned.map((c) => {
      const li = document.createElement('li');
      const sc = document.createElement('strong');
      sc.textContent = '/' + c.shortcut;
      const body = document.createElement('span');
      body.className = 'canned-content';
      body.textContent = c.content;
      const edit = document.createElement('button');
      edit.type = 'button';
      edit.className = 'btn btn-secondary btn-small';
      edit.textContent = 'Edit';
      edit.addEventListener('click', () => {
        editing = c.id;
        shortcut.value = c.shortcut;
        content.value = c.content;
        shortcut.focus();
      });
      const del = document.createElement('button');
      del.type = 'button';
      del.className = 'btn btn-danger btn-small';
      del.textContent = 'Delete';
      del.setAttribute('aria-label', `Delete /${c.shortcut}`);
      del.addEventListener('click', async () => {
        const res = await adminApi('DELETE', `/chatbot/api/canned/${c.id}`);
        if (!res.ok && res.status !== 404) return showError(res.data.detail || 'Could not delete it.');
        await load(true);
        render();
      });
      li.append(sc, ' ', body, edit, del);
      return li;
    }));
  }

  document.getElementById('canned-manage').addEventListener('click', async () => {
    showError('');
    await load(true);
    render();
    dialog.showModal();
  });
  document.getElementById('canned-close').addEventListener('click', () => dialog.close());
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    showError('');
    const body = { shortcut: shortcut.value.trim(), content: content.value };
    const res = editing
      ? await adminApi('PUT', `/chatbot/api/canned/${editing}`, body)
      : await adminApi('POST', '/chatbot/api/canned', body);
    if (!res.ok) {
      const fields = res.data.errors ? Object.values(res.data.errors).join(' ') : '';
      return showError(fields || res.data.detail || 'Could not save it.');
    }
    editing = 0;
    form.reset();
    await load(true);
    render();
  });
}
