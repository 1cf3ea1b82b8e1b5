// Settings: retentionDays, how long a quiet conversation is kept (0:
// forever). Saved with a partial POST /chatbot/api of that one field; the
// server erases expired conversations once a day (README "Retention").
// settings.js imports this module; the section is in settings.html.
import { adminApi as api } from './api.js';

const main = document.getElementById('settings');
const form = document.getElementById('retention-form');
const input = document.getElementById('retentionDays');
const errorEl = document.getElementById('retentionDays-error');
const notice = document.getElementById('retention-notice');
const savedEl = document.getElementById('retention-saved');

function fill(c) {
  input.value = String(c.retentionDays || 0);
}

function showError(problem) {
  errorEl.textContent = problem || '';
  if (problem) input.setAttribute('aria-invalid', 'true');
  else input.removeAttribute('aria-invalid');
}

input.addEventListener('input', () => { savedEl.textContent = ''; });

form.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  savedEl.textContent = '';
  notice.textContent = '';
  const text = input.value.trim();
  // Anything not a plain number goes to the server as is, which says why.
  const days = /^\d+$/.test(text) ? Number(text) : text;
  const res = await api('POST', '/chatbot/api', { retentionDays: days });
  if (res.ok) {
    showError('');
    fill(res.data.chatbot_details);
    savedEl.textContent = '✓ Saved.';
    return;
  }
  const problem = res.data && res.data.errors && res.data.errors.retentionDays;
  showError(problem);
  if (problem) input.focus();
  else notice.textContent = (res.data && res.data.detail) || 'Something went wrong.';
});

fill(JSON.parse(main.dataset.chatbot || '{}'));
