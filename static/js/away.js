// The visitor window's away state and email prompt (SPEC Part 2, "Hours
// and away"), from GET /chatbot/details: open, away, next_open.

/**
 * "Tue 09:00" in the visitor's own time, for an RFC 3339 instant.
 * @param {string} iso
 */
export function shortWhen(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const day = d.toLocaleDateString(undefined, { weekday: 'short' });
  const time = d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
  return `${day} ${time}`;
}

/**
 * The header's status line: "Online" only while the socket is up and the
 * details say someone answers.
 * @param {{away?: boolean, open?: boolean, next_open?: string|null}} d
 * @param {boolean} connected
 * @returns {{online: boolean, text: string}}
 */
export function awayStatus(d, connected) {
  if (!connected) return { online: false, text: 'Reconnecting…' };
  if (!d.away) return { online: true, text: 'Online' };
  if (d.open === false && d.next_open) return { online: false, text: `Away — back ${shortWhen(d.next_open)}` };
  return { online: false, text: 'Away — leave a message' };
}

/**
 * What the email form asks, or '' when it is not shown.
 * @param {string} askEmail "never", "away" or "always"
 * @param {boolean} away
 */
export function emailPrompt(askEmail, away) {
  if (askEmail === 'always') return 'Your email, so we can answer you there:';
  if ((askEmail || 'away') === 'away' && away) return 'We are away. Leave your email and we will answer you there:';
  return '';
}
