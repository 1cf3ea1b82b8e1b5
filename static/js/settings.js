// Settings: the chatbot style with a live preview (the preview is the
// visitor window's own markup and chat.css), the picture, the embed
// snippet, and the password.
import { adminApi as api } from './api.js';
import { applyChatbotStyle, colorRE } from './style.js';
import { derivePalette, lowContrast, minContrast } from './palette.js';
import { uuid } from './messages.js';
import './signout.js';
import './team.js';
import './hours.js';
import './retention.js';
import { initNotifySettings } from './notify.js';

initNotifySettings();

const main = document.getElementById('settings');
const username = main.dataset.username;
let saved = JSON.parse(main.dataset.chatbot || '{}');
let draft = { ...saved };
const preview = document.querySelector('#preview .lcw');
const styleForm = document.getElementById('style-form');

const colorFields = [
  ['headerBackgroundColor', 'Header background'],
  ['headerTextColor', 'Header text'],
  ['introductionBackgroundColor', 'Introduction background'],
  ['introductionTextColor', 'Introduction text'],
  ['senderBackground', "Visitor's messages"],
  ['senderTextColor', "Visitor's message text"],
  ['receiverBackground', 'Your messages'],
  ['receiverTextColor', 'Your message text'],
  ['background_color', 'Window background'],
  ['inputBarBackground', 'Input bar background'],
  ['inputTextColor', 'Input text'],
];

/** #abc → #aabbcc, which <input type=color> needs. */
function long(c) {
  if (/^#[0-9a-f]{3}$/i.test(c)) return '#' + [...c.slice(1)].map((x) => x + x).join('');
  return c.toLowerCase();
}

const colorsEl = document.getElementById('colors');
for (const [field, label] of colorFields) {
  const row = document.createElement('div');
  row.className = 'color';
  const picker = document.createElement('input');
  picker.type = 'color';
  picker.id = field;
  picker.name = field;
  const hex = document.createElement('input');
  hex.type = 'text';
  hex.id = field + '-hex';
  hex.setAttribute('aria-label', label + ' (hex)');
  hex.spellcheck = false;
  hex.maxLength = 7;
  const lab = document.createElement('label');
  lab.htmlFor = field;
  lab.textContent = label;
  const span = document.createElement('span');
  span.append(lab);
  const err = document.createElement('p');
  err.className = 'error';
  err.id = field + '-error';
  span.append(err);
  row.append(picker, span, hex);
  colorsEl.append(row);
  picker.addEventListener('input', () => {
    hex.value = picker.value;
    hex.removeAttribute('aria-invalid');
    update(field, picker.value);
  });
  hex.addEventListener('input', () => {
    const v = hex.value.trim();
    const ok = colorRE.test(v);
    hex.setAttribute('aria-invalid', String(!ok));
    if (ok) {
      picker.value = long(v);
      update(field, v);
    }
  });
}

const nameInput = document.getElementById('chatbotName');
const introInput = document.getElementById('introductionText');
nameInput.addEventListener('input', () => update('chatbotName', nameInput.value));
introInput.addEventListener('input', () => update('introductionText', introInput.value));

function update(field, value) {
  draft[field] = value;
  document.getElementById('style-saved').textContent = '';
  applyChatbotStyle(preview, draft);
  checkContrast();
}

const colorLabels = Object.fromEntries(colorFields);

/** Says which text colours of the draft are hard to read, if any. */
function checkContrast() {
  const low = lowContrast(draft);
  document.getElementById('contrast-warning').textContent = low.length === 0 ? '' :
    'Hard to read: ' + low.map((p) => `${colorLabels[p.text]} on ${colorLabels[p.bg].toLowerCase()} (${p.ratio.toFixed(1)}:1)`).join('; ') +
    `. Aim for at least ${minContrast}:1.`;
}

// One brand colour sets the whole palette (the eleven colours stay under
// "Advanced" for whoever wants each one).
const brandPicker = document.getElementById('brandColor');
const brandHex = document.getElementById('brandColor-hex');
function setBrand(v) {
  const palette = derivePalette(v);
  for (const [field, c] of Object.entries(palette)) {
    document.getElementById(field).value = long(c);
    document.getElementById(field + '-hex').value = c;
    document.getElementById(field + '-hex').removeAttribute('aria-invalid');
    draft[field] = c;
  }
  update('headerBackgroundColor', palette.headerBackgroundColor);
}
brandPicker.addEventListener('input', () => {
  brandHex.value = brandPicker.value;
  brandHex.removeAttribute('aria-invalid');
  setBrand(brandPicker.value);
});
brandHex.addEventListener('input', () => {
  const v = brandHex.value.trim();
  const ok = colorRE.test(v);
  brandHex.setAttribute('aria-invalid', String(!ok));
  document.getElementById('brandColor-error').textContent = ok || v.length < 4 ? '' : 'Use a colour like #1a2b3c or #abc.';
  if (ok) {
    brandPicker.value = long(v);
    setBrand(v);
  }
});

/** Puts a Chatbot into the form and the preview. */
function fill(c) {
  nameInput.value = c.chatbotName || '';
  introInput.value = c.introductionText || '';
  for (const [field] of colorFields) {
    if (!c[field]) continue;
    document.getElementById(field).value = long(c[field]);
    document.getElementById(field + '-hex').value = c[field];
  }
  if (c.headerBackgroundColor) {
    brandPicker.value = long(c.headerBackgroundColor);
    brandHex.value = c.headerBackgroundColor;
    brandHex.removeAttribute('aria-invalid');
    document.getElementById('brandColor-error').textContent = '';
  }
  applyChatbotStyle(preview, c);
  showPicture(c.bot_picture);
  checkContrast();
}

function showErrors(prefixForm, data) {
  for (const el of prefixForm.querySelectorAll('.error')) el.textContent = '';
  for (const el of prefixForm.querySelectorAll('[aria-invalid="true"]')) el.removeAttribute('aria-invalid');
  if (!data) return '';
  let first = null;
  for (const [field, problem] of Object.entries(data.errors || {})) {
    const out = document.getElementById(field + '-error');
    // A colour's error belongs to its hex box, where the value was typed.
    const input = document.getElementById(field + '-hex') || document.getElementById(field);
    if (out) out.textContent = problem;
    if (input) {
      input.setAttribute('aria-invalid', 'true');
      first = first || input;
      // An error on an individual colour must not stay folded away.
      const details = input.closest('details');
      if (details) details.open = true;
    }
  }
  if (first) first.focus();
  return first ? '' : (data.detail || 'Something went wrong.');
}

styleForm.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  // A brand colour typed wrong is refused here (it is not a field of its
  // own on the server): its error shows and nothing is saved.
  if (!colorRE.test(brandHex.value.trim())) {
    showErrors(styleForm, { errors: { brandColor: 'Use a colour like #1a2b3c or #abc.' } });
    document.getElementById('style-error').textContent = '';
    document.getElementById('style-saved').textContent = '';
    return;
  }
  // The hex boxes are what the admin sees: send what they say, so a colour
  // typed wrong is refused (by the server, which says why) rather than
  // silently replaced by the last good one.
  const body = { chatbotName: nameInput.value, introductionText: introInput.value };
  for (const [field] of colorFields) body[field] = document.getElementById(field + '-hex').value.trim();
  const res = await api('POST', '/chatbot/api', body);
  document.getElementById('style-error').textContent = showErrors(styleForm, res.ok ? null : res.data);
  if (res.ok) {
    saved = res.data.chatbot_details;
    renderSnippet();
    draft = { ...saved };
    fill(saved);
    document.getElementById('style-saved').textContent = '✓ Saved. Visitors see the new style now.';
  }
});
document.getElementById('style-reset').addEventListener('click', () => {
  draft = { ...saved };
  showErrors(styleForm, null);
  document.getElementById('style-error').textContent = '';
  fill(saved);
});

// Picture.
const picImg = document.getElementById('picture-img');
const picNone = document.getElementById('picture-none');
const picInput = document.getElementById('picture');
const picErr = document.getElementById('picture-error');
const picRemove = document.getElementById('picture-remove');
function showPicture(url) {
  picImg.hidden = !url;
  picNone.hidden = !!url;
  picRemove.hidden = !url;
  if (url) picImg.src = url;
  else picImg.removeAttribute('src');
}
picInput.addEventListener('change', async () => {
  const f = picInput.files[0];
  picInput.value = '';
  if (!f) return;
  picErr.textContent = '';
  if (f.size > 1 << 20) {
    picErr.textContent = 'The picture is too large (at most 1 MiB).';
    return;
  }
  const fd = new FormData();
  fd.append('picture', f);
  const res = await api('POST', '/chatbot/api/picture', fd);
  if (!res.ok) {
    picErr.textContent = (res.data.errors && res.data.errors.picture) || res.data.detail || 'Upload failed.';
    return;
  }
  saved.bot_picture = res.data.chatbot_details.bot_picture;
  draft.bot_picture = saved.bot_picture;
  showPicture(saved.bot_picture);
  applyChatbotStyle(preview, draft);
});
picRemove.addEventListener('click', async () => {
  const res = await api('DELETE', '/chatbot/api/picture');
  if (!res.ok) {
    picErr.textContent = res.data.detail || 'Could not remove the picture.';
    return;
  }
  saved.bot_picture = '';
  draft.bot_picture = '';
  showPicture('');
  applyChatbotStyle(preview, draft);
});

// Snippet. It carries the saved header colours, so the chat button has the
// business's colours from the first page load without loading anything
// else (paste it again after changing them; the window shows the new ones).
let snippet = '';
function renderSnippet() {
  const attr = (name, c) => (colorRE.test(c || '') ? ` data-${name}="${c}"` : '');
  snippet = `<script src="${location.origin}/widget.js" data-username="${username}"${attr('color', saved.headerBackgroundColor)}${attr('text', saved.headerTextColor)} async></script>`;
  document.getElementById('snippet').textContent = snippet;
}
renderSnippet();
// A random consumer id: one drawn from the clock could be guessed, and
// whoever holds a consumer id reads that conversation.
document.getElementById('open-chat').href = `/chatbot/${encodeURIComponent(username)}/preview-${uuid()}`;
document.getElementById('copy').addEventListener('click', async () => {
  const out = document.getElementById('copied');
  try {
    await navigator.clipboard.writeText(snippet);
    out.textContent = '✓ Copied';
  } catch (e) {
    const range = document.createRange();
    range.selectNodeContents(document.getElementById('snippet'));
    const sel = getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
    out.textContent = 'Selected — press Ctrl+C (⌘C) to copy.';
  }
  setTimeout(() => { out.textContent = ''; }, 4000);
});

// Password.
const pwForm = document.getElementById('pw-form');
pwForm.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const old = document.getElementById('old_password');
  const neu = document.getElementById('new_password');
  const out = document.getElementById('pw-error');
  document.getElementById('pw-saved').textContent = '';
  if (neu.value.length < 8) {
    out.textContent = showErrors(pwForm, { errors: { new_password: 'At least 8 characters.' } });
    return;
  }
  const res = await api('POST', '/accounts/api/changepassword', { old_password: old.value, new_password: neu.value });
  if (res.status === 403) {
    out.textContent = showErrors(pwForm, { errors: { old_password: res.data.detail || 'That is not your current password.' } });
    return;
  }
  out.textContent = showErrors(pwForm, res.ok ? null : res.data);
  if (res.ok) {
    old.value = '';
    neu.value = '';
    document.getElementById('pw-saved').textContent = '✓ Password changed.';
  }
});

fill(saved);
