// The inbox's service worker, served at /sw.js so its scope is the whole
// site. It shows a push (push.go's PushMessage: title, body, url, tag) as a
// notification, and a click opens the conversation: in an inbox window
// already open (focused, and told which conversation by a message), or in
// a new window.
'use strict';

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

self.addEventListener('push', (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch {
    data = { body: event.data ? event.data.text() : '' };
  }
  const options = {
    body: typeof data.body === 'string' ? data.body : '',
    icon: '/static/img/icon-192.png',
    badge: '/static/img/icon-192.png',
    data: { url: typeof data.url === 'string' ? data.url : '/messages' },
  };
  if (typeof data.tag === 'string' && data.tag) {
    // One notification per conversation: a newer one replaces it and
    // alerts again.
    options.tag = data.tag;
    options.renotify = true;
  }
  event.waitUntil(self.registration.showNotification(typeof data.title === 'string' && data.title ? data.title : 'New message', options));
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  let target = new URL((event.notification.data && event.notification.data.url) || '/messages', self.location.origin);
  // Only this server's pages: a push payload must not open other sites.
  if (target.origin !== self.location.origin) target = new URL('/messages', self.location.origin);
  event.waitUntil((async () => {
    const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
    for (const w of windows) {
      if (new URL(w.url).pathname === target.pathname) {
        await w.focus();
        // The inbox opens the conversation itself (no reload).
        w.postMessage({ type: 'open', url: target.href });
        return;
      }
    }
    await self.clients.openWindow(target.href);
  })());
});
