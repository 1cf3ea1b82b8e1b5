// Notifications in the agent's pages: the service worker (/sw.js), Web
// Push on/off for this browser, telling the server whether the inbox is on
// screen (so it pushes only to agents who would not see a message), and
// the mail status with a test email in settings.
import { adminApi as api } from './api.js';

/** @returns {boolean} whether this browser can take Web Push */
export function pushSupported() {
  return 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window;
}

/**
 * Registers /sw.js (root scope: it shows pushes and opens conversations).
 * @returns {Promise<ServiceWorkerRegistration|null>}
 */
export async function registerWorker() {
  if (!('serviceWorker' in navigator)) return null;
  try {
    await navigator.serviceWorker.register('/sw.js');
    return await navigator.serviceWorker.ready;
  } catch (e) {
    return null; // e.g. a plain-http address other than localhost
  }
}

/** @returns {Promise<PushSubscription|null>} this browser's subscription */
export async function currentSubscription() {
  if (!pushSupported()) return null;
  const reg = await registerWorker();
  if (!reg) return null;
  try { return await reg.pushManager.getSubscription(); } catch (e) { return null; }
}

/** base64url → bytes, for applicationServerKey. */
function b64urlBytes(s) {
  const b = atob(s.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (s.length % 4)) % 4));
  return Uint8Array.from(b, (c) => c.charCodeAt(0));
}

/**
 * Turns push on for this browser: asks permission, subscribes with the
 * server's VAPID key and registers the subscription.
 * @returns {Promise<string>} '' on success, else what went wrong
 */
export async function turnOnPush() {
  if (!pushSupported()) return 'This browser cannot show push notifications.';
  let perm = Notification.permission;
  if (perm === 'default') {
    try { perm = await Notification.requestPermission(); } catch (e) { perm = 'denied'; }
  }
  if (perm !== 'granted') return 'Notifications are blocked for this site in the browser’s settings.';
  const reg = await registerWorker();
  if (!reg) return 'The notification worker could not start here (push needs https).';
  const key = await api('GET', '/accounts/api/push');
  if (!key.ok) return key.data.detail || 'Could not reach the server.';
  let sub;
  try {
    sub = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: b64urlBytes(key.data.public_key) });
  } catch (e) {
    return 'The browser’s push service refused: ' + (e && e.message ? e.message : 'unknown error') + '.';
  }
  const res = await api('POST', '/accounts/api/push/subscriptions', sub.toJSON());
  if (!res.ok) {
    try { await sub.unsubscribe(); } catch (e) { /* gone anyway */ }
    return res.data.detail || 'The server refused the subscription.';
  }
  return '';
}

/**
 * Turns push off for this browser.
 * @returns {Promise<string>} '' on success, else what went wrong
 */
export async function turnOffPush() {
  const sub = await currentSubscription();
  if (!sub) return '';
  const res = await api('DELETE', '/accounts/api/push/subscriptions', { endpoint: sub.endpoint });
  try { await sub.unsubscribe(); } catch (e) { /* the server forgot it anyway */ }
  return res.ok ? '' : (res.data.detail || 'Could not reach the server.');
}

/**
 * Tells the server over the inbox's room socket whether the inbox is on
 * screen, now and whenever that changes. Call from the socket's onopen.
 * @param {{send: (obj: object) => boolean}} sock
 */
export function reportVisibility(sock) {
  sock.send({ command: 'visibility', visible: document.visibilityState === 'visible' });
  if (reportVisibility.bound) return;
  reportVisibility.bound = true;
  document.addEventListener('visibilitychange', () => {
    sock.send({ command: 'visibility', visible: document.visibilityState === 'visible' });
  });
}

/** Wires settings' Notifications section (settings.html), if present. */
export function initNotifySettings() {
  const section = document.getElementById('notify-section');
  if (!section) return;
  const pushBtn = document.getElementById('push-toggle');
  const pushState = document.getElementById('push-state');
  const mailState = document.getElementById('mail-state');
  const testBtn = document.getElementById('mail-test');
  const testResult = document.getElementById('mail-test-result');

  async function showPush() {
    if (!pushSupported()) {
      pushState.textContent = 'This browser cannot show push notifications.';
      pushBtn.hidden = true;
      return;
    }
    const sub = await currentSubscription();
    pushBtn.hidden = false;
    pushBtn.dataset.on = sub ? '1' : '';
    pushBtn.textContent = sub ? 'Turn off notifications' : 'Turn on notifications';
    pushState.textContent = sub ? 'On in this browser.' : 'Off in this browser.';
  }
  pushBtn.addEventListener('click', async () => {
    pushBtn.disabled = true;
    const err = pushBtn.dataset.on ? await turnOffPush() : await turnOnPush();
    pushBtn.disabled = false;
    await showPush();
    if (err) pushState.textContent = err;
  });

  async function showMail() {
    const res = await api('GET', '/accounts/api/mail');
    if (!res.ok) {
      mailState.textContent = res.data.detail || 'Could not reach the server.';
      return;
    }
    const st = res.data;
    testBtn.hidden = !st.enabled;
    if (!st.enabled) {
      mailState.textContent = 'Mail is off: the server was started without --smtp.';
    } else if (st.last_failure) {
      const f = st.last_failure;
      mailState.textContent = `Last failure: an email to ${f.to} (“${f.subject}”) could not be sent: ${f.error}`;
    } else if (st.last_error) {
      mailState.textContent = `Trying again: ${st.last_error}`;
    } else if (st.last_sent) {
      mailState.textContent = `Working: last email sent ${new Date(st.last_sent).toLocaleString()}.`;
    } else {
      mailState.textContent = st.queued ? `Working: ${st.queued} email(s) waiting to be sent.` : 'Working: no email sent yet since the server started.';
    }
    section.dataset.mail = !st.enabled ? 'off' : st.last_failure ? 'failed' : 'on';
  }
  testBtn.addEventListener('click', async () => {
    testBtn.disabled = true;
    const res = await api('POST', '/accounts/api/mail/test');
    testBtn.disabled = false;
    testResult.textContent = res.data.detail || (res.ok ? 'Sent.' : 'Could not send.');
    // The status shows the outcome once the sender tried.
    setTimeout(showMail, 1500);
  });

  showPush();
  showMail();
}
