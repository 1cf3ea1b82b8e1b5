// Settings → Your profile and Team: the signed-in agent's name, email and
// mail setting; the business's agents with online dots; and, for the
// owner, invitation links (make, copy, revoke) and removing agents. All
// user text goes in as text, never as HTML.
import { adminApi as api } from './api.js';

const team = document.getElementById('team');
const isOwner = team.dataset.role === 'owner';
const me = Number(team.dataset.me);
const agentsEl = document.getElementById('agents');
const invitesEl = document.getElementById('invites');
const invitesNone = document.getElementById('invites-none');
const teamError = document.getElementById('team-error');

/** Makes an element with a class and text. */
function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

/**
 * Shows the API's {"detail","errors"} on a form whose error elements are
 * `${prefix}${field}-error`.
 */
function showErrors(form, prefix, notice, data) {
  for (const e of form.querySelectorAll('.error')) e.textContent = '';
  for (const e of form.querySelectorAll('[aria-invalid]')) e.removeAttribute('aria-invalid');
  if (notice) notice.textContent = '';
  if (!data) return;
  let shown = false;
  for (const [field, problem] of Object.entries(data.errors || {})) {
    const out = document.getElementById(`${prefix}${field}-error`);
    const input = document.getElementById(`${prefix}${field}`);
    if (out) {
      out.textContent = problem;
      shown = true;
    }
    if (input) input.setAttribute('aria-invalid', 'true');
  }
  if (!shown) (notice || teamError).textContent = data.detail || 'Something went wrong.';
}

// ---- profile --------------------------------------------------------------

const profileForm = document.getElementById('profile-form');
const profileSaved = document.getElementById('profile-saved');
profileForm.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  profileSaved.textContent = '';
  const body = {
    name: document.getElementById('profile-name').value,
    email: document.getElementById('profile-email').value,
    notify_email: document.getElementById('profile-notify').checked,
  };
  const res = await api('PATCH', '/accounts/api/me', body);
  if (!res.ok) {
    showErrors(profileForm, 'profile-', document.getElementById('profile-error'), res.data);
    return;
  }
  showErrors(profileForm, 'profile-', document.getElementById('profile-error'), null);
  document.getElementById('profile-name').value = res.data.user.name;
  profileSaved.textContent = 'Saved.';
  loadAgents();
});

// ---- agents ---------------------------------------------------------------

/** Renders the agent list. @param {object[]} agents */
function renderAgents(agents) {
  agentsEl.textContent = '';
  for (const a of agents) {
    const li = el('li');
    li.dataset.id = String(a.id);
    const dot = el('span', 'agent-dot' + (a.online ? ' is-online' : ''));
    dot.title = a.online ? 'Online' : 'Offline';
    const who = el('span', 'agent-who', a.name);
    who.append(el('small', '', `${a.username} · ${a.role === 'owner' ? 'owner' : 'agent'}${a.online ? ' · online' : ''}${a.id === me ? ' · you' : ''}`));
    li.append(dot, who);
    if (isOwner && a.role !== 'owner') {
      const rm = el('button', 'btn btn-danger btn-small', 'Remove');
      rm.type = 'button';
      rm.setAttribute('aria-label', `Remove ${a.name}`);
      rm.addEventListener('click', () => removeAgent(a));
      li.append(rm);
    }
    agentsEl.append(li);
  }
}

async function loadAgents() {
  const res = await api('GET', '/accounts/api/agents');
  if (res.ok) renderAgents(res.data.agents || []);
}

async function removeAgent(a) {
  if (!confirm(`Remove ${a.name} (${a.username}) from the team? They are signed out at once.`)) return;
  teamError.textContent = '';
  const res = await api('DELETE', `/accounts/api/agents/${a.id}`);
  if (!res.ok && res.status !== 404) {
    teamError.textContent = (res.data && res.data.detail) || 'The agent could not be removed.';
  }
  loadAgents();
}

// ---- invitations (owner) -----------------------------------------------------

/** Copies text, reporting on the button. */
async function copy(text, button) {
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = 'Copied';
  } catch (e) {
    button.textContent = 'Select and copy';
  }
  setTimeout(() => { button.textContent = 'Copy link'; }, 2000);
}

/** Renders the pending invitations. @param {object[]} invites */
function renderInvites(invites) {
  invitesEl.textContent = '';
  invitesNone.hidden = invites.length > 0;
  for (const inv of invites) {
    const li = el('li');
    li.dataset.token = inv.token;
    const who = el('span', 'invite-who', inv.name || inv.email || 'Anyone with the link');
    const until = new Date(inv.expires);
    who.append(el('small', '', (inv.name && inv.email ? inv.email + ' · ' : '') + `valid until ${until.toLocaleDateString()}`));
    const url = el('input', 'invite-url');
    url.type = 'text';
    url.readOnly = true;
    url.value = inv.url;
    url.setAttribute('aria-label', 'Invitation link');
    url.addEventListener('focus', () => url.select());
    const cp = el('button', 'btn btn-secondary btn-small js-copy', 'Copy link');
    cp.type = 'button';
    cp.addEventListener('click', () => copy(inv.url, cp));
    const rv = el('button', 'btn btn-danger btn-small js-revoke', 'Revoke');
    rv.type = 'button';
    rv.addEventListener('click', async () => {
      const res = await api('DELETE', `/accounts/api/invites/${encodeURIComponent(inv.token)}`);
      if (!res.ok && res.status !== 404) teamError.textContent = (res.data && res.data.detail) || 'Could not revoke.';
      loadInvites();
    });
    li.append(who, cp, rv, url);
    invitesEl.append(li);
  }
}

async function loadInvites() {
  const res = await api('GET', '/accounts/api/invites');
  if (res.ok) renderInvites(res.data.invites || []);
}

const inviteForm = document.getElementById('invite-form');
inviteForm.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const body = {
    name: document.getElementById('invite-name').value,
    email: document.getElementById('invite-email').value,
  };
  const res = await api('POST', '/accounts/api/invites', body);
  if (!res.ok) {
    showErrors(inviteForm, 'invite-', null, res.data);
    return;
  }
  showErrors(inviteForm, 'invite-', null, null);
  teamError.textContent = '';
  inviteForm.reset();
  await loadInvites();
  const url = invitesEl.querySelector(`li[data-token="${CSS.escape(res.data.invite.token)}"] .invite-url`);
  if (url) url.focus();
});

loadAgents();
if (isOwner) loadInvites();
// Online dots follow who has the inbox open.
setInterval(() => { if (document.visibilityState === 'visible') loadAgents(); }, 15000);
