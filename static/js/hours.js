// Settings: business hours, the away message and askEmail (SPEC Part 2,
// "Hours and away"). An editor of per-weekday spans in a time zone, with a
// preview line ("Open now" / "Opens Tue 09:00") computed here from what is
// being edited; saved with a partial POST /chatbot/api of these fields.
// settings.js imports this module; the section is in settings.html.
import { adminApi as api } from './api.js';

const main = document.getElementById('settings');
const form = document.getElementById('hours-form');
const on = document.getElementById('hours-on');
const editor = document.getElementById('hours-editor');
const tzSelect = document.getElementById('hours-tz');
const weekEl = document.getElementById('hours-week');
const previewEl = document.getElementById('hours-preview');
const awayInput = document.getElementById('awayMessage');
const askSelect = document.getElementById('askEmail');
const savedEl = document.getElementById('hours-saved');

/** The week's keys, Monday first, and their names. */
const days = [['mon', 'Monday'], ['tue', 'Tuesday'], ['wed', 'Wednesday'], ['thu', 'Thursday'], ['fri', 'Friday'], ['sat', 'Saturday'], ['sun', 'Sunday']];
/** JavaScript's getDay() order. */
const byJSDay = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
const shortName = { mon: 'Mon', tue: 'Tue', wed: 'Wed', thu: 'Thu', fri: 'Fri', sat: 'Sat', sun: 'Sun' };

const browserZone = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';

/** Fills the time zone select (every IANA zone the browser knows). */
function fillZones(current) {
  let zones = [];
  try { zones = Intl.supportedValuesOf('timeZone'); } catch (e) { /* older browsers */ }
  for (const z of ['UTC', browserZone, current]) if (z && !zones.includes(z)) zones.push(z);
  zones.sort();
  tzSelect.replaceChildren(...zones.map((z) => new Option(z.replaceAll('_', ' '), z)));
}

/** "HH:MM" → minutes after midnight, or NaN. */
function minutes(hhmm) {
  const m = /^(\d\d):(\d\d)$/.exec(hhmm || '');
  return m ? Number(m[1]) * 60 + Number(m[2]) : NaN;
}
const hhmm = (min) => `${String(Math.floor(min / 60) % 24).padStart(2, '0')}:${String(min % 60).padStart(2, '0')}`;

/** One span row: start and end time inputs and a remove button. */
function spanRow(day, span) {
  const row = document.createElement('div');
  row.className = 'span';
  const start = document.createElement('input');
  start.type = 'time';
  start.className = 'span-start';
  start.value = span[0];
  start.setAttribute('aria-label', `${day[1]} opens at`);
  const end = document.createElement('input');
  end.type = 'time';
  end.className = 'span-end';
  // The server writes midnight at the end of a span as 24:00.
  end.value = span[1] === '24:00' ? '00:00' : span[1];
  end.setAttribute('aria-label', `${day[1]} closes at`);
  const dash = document.createElement('span');
  dash.textContent = '–';
  const remove = document.createElement('button');
  remove.type = 'button';
  remove.className = 'btn btn-secondary btn-small span-remove';
  remove.textContent = '×';
  remove.setAttribute('aria-label', `Remove these ${day[1]} hours`);
  remove.addEventListener('click', () => {
    row.remove();
    changed();
  });
  row.append(start, dash, end, remove);
  return row;
}

/** Builds the week's rows from a week object. */
function fillWeek(week) {
  weekEl.replaceChildren();
  for (const day of days) {
    const row = document.createElement('div');
    row.className = 'day';
    row.dataset.day = day[0];
    const name = document.createElement('span');
    name.className = 'day-name';
    name.textContent = day[1];
    const spans = document.createElement('div');
    spans.className = 'spans';
    for (const s of (week && week[day[0]]) || []) spans.append(spanRow(day, s));
    const add = document.createElement('button');
    add.type = 'button';
    add.className = 'btn btn-secondary btn-small day-add';
    add.textContent = 'Add hours';
    add.setAttribute('aria-label', `Add hours on ${day[1]}`);
    add.addEventListener('click', () => {
      spans.append(spanRow(day, ['09:00', '17:00']));
      changed();
    });
    const err = document.createElement('p');
    err.className = 'error';
    err.id = `hours.week.${day[0]}-error`;
    row.append(name, spans, add, err);
    weekEl.append(row);
  }
}

/** @returns {{timezone: string, week: Object<string, string[][]>}|null} the hours being edited */
function readHours() {
  if (!on.checked) return null;
  const week = {};
  for (const row of weekEl.querySelectorAll('.day')) {
    week[row.dataset.day] = [...row.querySelectorAll('.span')].map((s) => [s.querySelector('.span-start').value, s.querySelector('.span-end').value]);
  }
  return { timezone: tzSelect.value, week };
}

/** The weekday key and minutes after midnight of now in a time zone. */
function nowIn(tz) {
  const parts = {};
  const fmt = new Intl.DateTimeFormat('en-US', { timeZone: tz, weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
  for (const p of fmt.formatToParts(new Date())) parts[p.type] = p.value;
  const day = byJSDay.find((d) => shortName[d] === parts.weekday) || 'mon';
  return { day, min: (Number(parts.hour) % 24) * 60 + Number(parts.minute) };
}

/**
 * The preview line for hours (as readHours gives them): "Always open",
 * "Open now", "Opens Tue 09:00" (the business's own time) or "Never open".
 * Like the server: spans are [start, end), an end at or before the start
 * runs into the next day. Exported for the tests.
 */
export function previewText(hours, now) {
  if (!hours) return 'Always open: visitors see you as away only when no one is online.';
  let tz = hours.timezone;
  try { new Intl.DateTimeFormat('en-US', { timeZone: tz }); } catch (e) { tz = 'UTC'; }
  const { day, min } = now || nowIn(tz);
  const today = byJSDay.indexOf(day);
  const spans = (d) => ((hours.week || {})[d] || []).map(([a, b]) => {
    const s = minutes(a);
    let e = minutes(b === '24:00' ? '00:00' : b);
    if (e <= s) e += 1440;
    return [s, e];
  }).filter(([s, e]) => !Number.isNaN(s) && !Number.isNaN(e));
  const yesterday = byJSDay[(today + 6) % 7];
  if (spans(day).some(([s, e]) => s <= min && min < e) || spans(yesterday).some(([, e]) => min < e - 1440)) return 'Open now';
  let best = null;
  for (let off = 0; off <= 7; off++) {
    const d = byJSDay[(today + off) % 7];
    for (const [s] of spans(d)) {
      const wait = off * 1440 + s - min;
      if (wait > 0 && (best === null || wait < best.wait)) best = { wait, d, s };
    }
  }
  if (!best) return 'Never open: visitors always see you as away.';
  return `Opens ${shortName[best.d]} ${hhmm(best.s)}`;
}

function changed() {
  editor.hidden = !on.checked;
  previewEl.textContent = previewText(readHours());
  savedEl.textContent = '';
}

/** Puts a Chatbot's hours fields into the form. */
function fill(c) {
  on.checked = !!c.hours;
  const tz = (c.hours && c.hours.timezone) || browserZone;
  fillZones(tz);
  tzSelect.value = tz;
  fillWeek(c.hours ? c.hours.week : { mon: [['09:00', '17:00']], tue: [['09:00', '17:00']], wed: [['09:00', '17:00']], thu: [['09:00', '17:00']], fri: [['09:00', '17:00']] });
  awayInput.value = c.awayMessage || '';
  askSelect.value = c.askEmail || 'away';
  changed();
}

function showErrors(data) {
  for (const el of form.querySelectorAll('.error')) el.textContent = '';
  for (const el of form.querySelectorAll('[aria-invalid="true"]')) el.removeAttribute('aria-invalid');
  if (!data) return '';
  let first = null;
  for (const [field, problem] of Object.entries(data.errors || {})) {
    const out = document.getElementById(field + '-error');
    if (out) out.textContent = problem;
    const input = { 'hours.timezone': tzSelect, awayMessage: awayInput, askEmail: askSelect }[field] ||
      (field.startsWith('hours.week.') && weekEl.querySelector(`.day[data-day="${field.slice(11)}"] input`));
    if (input) {
      input.setAttribute('aria-invalid', 'true');
      first = first || input;
    }
    if (!out && !input) return problem;
  }
  if (first) first.focus();
  return first ? '' : (data.detail || 'Something went wrong.');
}

on.addEventListener('change', changed);
tzSelect.addEventListener('change', changed);
weekEl.addEventListener('input', changed);
awayInput.addEventListener('input', () => { savedEl.textContent = ''; });
askSelect.addEventListener('change', () => { savedEl.textContent = ''; });
// The preview follows the clock.
setInterval(() => { previewEl.textContent = previewText(readHours()); }, 30000);

form.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const res = await api('POST', '/chatbot/api', { hours: readHours(), awayMessage: awayInput.value, askEmail: askSelect.value });
  document.getElementById('hours-notice').textContent = showErrors(res.ok ? null : res.data);
  if (res.ok) {
    fill(res.data.chatbot_details);
    savedEl.textContent = '✓ Saved.';
  }
});

fill(JSON.parse(main.dataset.chatbot || '{}'));
