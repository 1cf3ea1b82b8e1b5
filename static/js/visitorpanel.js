// The inbox's visitor panel (issue 9): who the open conversation's visitor
// is, from the room's "visitor" (REST, fetch_rooms, and the "visitor"
// frames agent sockets receive). Text only: every value goes in through
// textContent, links only for http(s) URLs, opened with rel=noopener.
import { formatTime } from './messages.js';

/** An <a> for an http(s) URL (else a plain span), text as its text. */
function link(url, text) {
  let ok = false;
  try { ok = ['http:', 'https:'].includes(new URL(url).protocol); } catch (e) { /* not a URL */ }
  const el = document.createElement(ok ? 'a' : 'span');
  if (ok) {
    el.href = url;
    el.target = '_blank';
    el.rel = 'noopener noreferrer';
  }
  el.textContent = text || url;
  return el;
}

/** The visitor's local time now, or '' for an unknown time zone. */
function localTime(tz) {
  if (!tz) return '';
  try {
    return new Intl.DateTimeFormat(undefined, { timeZone: tz, hour: '2-digit', minute: '2-digit', weekday: 'short' }).format(new Date()) + ` (${tz})`;
  } catch (e) {
    return '';
  }
}

/**
 * Renders room's visitor into panel (emptied first).
 * @param {HTMLElement} panel
 * @param {object|undefined} room the inbox's room state
 */
export function renderVisitorPanel(panel, room) {
  panel.textContent = '';
  const h = document.createElement('h3');
  h.textContent = 'Visitor';
  panel.append(h);
  const v = room && room.visitor && typeof room.visitor === 'object' ? room.visitor : null;
  if (!room) return;
  const dl = document.createElement('dl');
  const row = (label, value) => {
    if (!value) return;
    const dt = document.createElement('dt');
    dt.textContent = label;
    const dd = document.createElement('dd');
    dd.dataset.field = label.toLowerCase().replace(/[^a-z]+/g, '-');
    if (typeof value === 'string') dd.textContent = value;
    else dd.append(value);
    dl.append(dt, dd);
  };
  const s = (x) => (typeof x === 'string' ? x : '');
  row('Name', s(v && v.name) || s(room.name));
  row('Email', s(room.consumer_email) || s(v && v.email));
  row('Visitor id', s(room.consumer));
  if (v) {
    if (s(v.page_url)) row('Page', link(v.page_url, s(v.page_title) || v.page_url));
    row('Page title', s(v.page_title));
    if (s(v.referrer)) row('Came from', link(v.referrer, v.referrer));
    if (Array.isArray(v.pages) && v.pages.length) {
      const ol = document.createElement('ol');
      ol.className = 'visitor-pages';
      for (const p of v.pages.slice().reverse()) {
        if (!p || typeof p.url !== 'string') continue;
        const li = document.createElement('li');
        li.append(link(p.url, s(p.title) || p.url));
        if (s(p.at)) {
          const t = document.createElement('span');
          t.className = 'visitor-at';
          t.textContent = ' · ' + formatTime(p.at);
          li.append(t);
        }
        ol.append(li);
      }
      row(`Pages seen (${v.pages.length})`, ol);
    }
    row('Browser', [s(v.browser), s(v.os)].filter(Boolean).join(' on '));
    row('Language', s(v.language));
    row('Local time', localTime(s(v.timezone)));
    row('Country', s(v.country));
    if (s(v.first_seen)) row('First seen', formatTime(v.first_seen));
    if (s(v.last_seen)) row('Last seen', formatTime(v.last_seen));
  } else {
    row('Known', 'Nothing more yet: the visitor window reports the page when it opens.');
  }
  panel.append(dl);
}
