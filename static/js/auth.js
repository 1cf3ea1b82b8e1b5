// Sign-in and sign-up forms: posted as JSON, errors shown inline next to
// their fields.
import { api } from './api.js';
import './signout.js';

const form = document.getElementById('auth-form');
const formError = document.getElementById('form-error');

/** Clears and then shows the API's {"detail", "errors"} on the form. */
function showErrors(data) {
  for (const el of form.querySelectorAll('.error')) el.textContent = '';
  for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
  // A field's hint gives way to its error, so the two never say it twice.
  for (const el of form.querySelectorAll('.field .hint[id]')) el.hidden = false;
  formError.textContent = '';
  if (!data) return;
  const errors = data.errors || {};
  let first = null;
  for (const [field, problem] of Object.entries(errors)) {
    const input = form.elements.namedItem(field);
    const out = document.getElementById(field + '-error');
    if (input && out) {
      out.textContent = problem;
      input.setAttribute('aria-invalid', 'true');
      const hint = document.getElementById(field + '-hint');
      if (hint) hint.hidden = true;
      first = first || input;
    }
  }
  if (!first) formError.textContent = data.detail || 'Something went wrong.';
  else if (data.detail && Object.keys(errors).length > 1) formError.textContent = data.detail;
  (first || form.elements[0]).focus();
}

form.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const body = {};
  for (const el of form.elements) {
    if (el.name && el.value !== '') body[el.name] = el.value;
  }
  // Only a missing field is caught here; the server checks everything else
  // and answers every field's problem at once, so all of them show together.
  const local = {};
  if (!body.username) local.username = 'Enter your username.';
  if (!body.password) local.password = 'Enter your password.';
  if (Object.keys(local).length) {
    showErrors({ errors: local });
    return;
  }
  const button = form.querySelector('button[type="submit"]');
  button.disabled = true;
  const res = await api('POST', form.dataset.endpoint, body);
  button.disabled = false;
  if (res.ok) {
    location.href = '/messages';
    return;
  }
  if (res.status === 429) {
    showErrors({ detail: 'Too many attempts. Wait a few minutes and try again.' });
    return;
  }
  showErrors(res.data);
});
