/* livechat widget. Embed with:
 *   <script src="https://HOST/widget.js" data-username="USERNAME"
 *     data-color="#rrggbb" data-text="#rrggbb" async></script>
 * (the colours, optional, are the button's until the window says its own).
 * Adds a chat button that opens the chat window in an iframe (told the
 * page's URL, title, referrer). In a shadow root; no globals. */
(function () {
  'use strict';
  var script = document.currentScript;
  if (!script || !script.src) return;
  var origin;
  try { origin = new URL(script.src).origin; } catch (e) { return; }
  var username = (script.getAttribute('data-username') || '').trim().toLowerCase();
  if (!/^[a-z0-9_.-]{1,32}$/.test(username)) return;
  if (document.querySelector('[data-livechat-widget="' + username + '"]')) return;

  var KEY = 'livechat:' + origin + ':' + username;

  function randomId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    var b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 15) | 64;
    b[8] = (b[8] & 63) | 128;
    var h = '';
    for (var i = 0; i < 16; i++) h += (b[i] + 256).toString(16).slice(1);
    return h.slice(0, 8) + '-' + h.slice(8, 12) + '-' + h.slice(12, 16) + '-' + h.slice(16, 20) + '-' + h.slice(20);
  }
  var memoryId = null;
  function visitorId(create) {
    try {
      var id = localStorage.getItem(KEY);
      if (!id && create) {
        id = randomId();
        localStorage.setItem(KEY, id);
      }
      return id;
    } catch (e) {
      if (!memoryId && create) memoryId = randomId();
      return memoryId;
    }
  }

  var css = [
    ':host{all:initial}',
    '.btn{position:fixed;right:20px;bottom:20px;width:60px;height:60px;border-radius:50%;border:0;padding:0;margin:0;',
    'cursor:pointer;background:var(--lc-bg,#2563eb);color:var(--lc-fg,#fff);box-shadow:0 6px 24px rgba(0,0,0,.25);display:flex;',
    'align-items:center;justify-content:center;z-index:2147483646;transition:transform .15s ease}',
    '.btn:hover{transform:scale(1.06)}.btn:focus-visible{outline:3px solid #93c5fd;outline-offset:3px}',
    '.btn svg{width:28px;height:28px;fill:currentColor}.btn .x{display:none}',
    '.open .btn .x{display:block}.open .btn .c{display:none}',
    '.dot{position:absolute;top:2px;right:2px;width:14px;height:14px;border-radius:50%;background:#ef4444;',
    'border:2px solid #fff;display:none}.unread .dot{display:block}',
    '.panel{position:fixed;right:20px;bottom:92px;width:380px;height:min(640px,calc(100vh - 120px));',
    'border-radius:16px;overflow:hidden;box-shadow:0 12px 48px rgba(0,0,0,.28);background:#fff;z-index:2147483647;',
    'display:none;border:0;margin:0;padding:0}',
    '.open .panel{display:block}',
    '.panel iframe{width:100%;height:100%;border:0;display:block;margin:0;padding:0;background:#fff}',
    '.close{display:none;position:absolute;top:12px;right:12px;width:40px;height:40px;border:0;border-radius:50%;',
    'background:rgba(0,0,0,.25);color:#fff;font:24px/40px system-ui,sans-serif;cursor:pointer;padding:0}',
    '@media (max-width:520px){.panel{inset:0;width:100%;height:100%;border-radius:0;right:0;bottom:0}',
    '.open .btn{display:none}.close{display:block}}',
  ].join('');

  var host = document.createElement('div');
  host.setAttribute('data-livechat-widget', username);
  var pos = { all: 'initial', position: 'fixed', 'z-index': '2147483647', right: '0', bottom: '0', width: '0', height: '0' };
  for (var k in pos) host.style.setProperty(k, pos[k], 'important');
  var root = host.attachShadow({ mode: 'open' });
  try {
    var sheet = new CSSStyleSheet();
    sheet.replaceSync(css);
    root.adoptedStyleSheets = [sheet];
  } catch (e) {
    var st = document.createElement('style');
    st.textContent = css;
    root.appendChild(st);
  }

  var wrap = document.createElement('div');
  var button = document.createElement('button');
  button.type = 'button';
  button.className = 'btn';
  button.setAttribute('aria-label', 'Open chat');
  button.setAttribute('aria-expanded', 'false');
  // Built node by node: no innerHTML, so host pages that enforce Trusted
  // Types are fine too.
  function icon(cls, d) {
    var svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
    svg.setAttribute('class', cls);
    svg.setAttribute('viewBox', '0 0 24 24');
    svg.setAttribute('aria-hidden', 'true');
    var path = document.createElementNS('http://www.w3.org/2000/svg', 'path');
    path.setAttribute('d', d);
    svg.appendChild(path);
    return svg;
  }
  button.appendChild(icon('c', 'M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2zm3 6v2h10V9zm0 4v2h7v-2z'));
  button.appendChild(icon('x', 'M6.4 5 5 6.4 10.6 12 5 17.6 6.4 19l5.6-5.6 5.6 5.6 1.4-1.4-5.6-5.6L19 6.4 17.6 5 12 10.6z'));
  var dot = document.createElement('span');
  dot.className = 'dot';
  button.appendChild(dot);
  var panel = document.createElement('div');
  panel.className = 'panel';
  panel.setAttribute('role', 'dialog');
  panel.setAttribute('aria-label', 'Chat');
  var close = document.createElement('button');
  close.type = 'button';
  close.className = 'close';
  close.setAttribute('aria-label', 'Close chat');
  close.textContent = '×';
  wrap.appendChild(panel);
  wrap.appendChild(button);
  root.appendChild(wrap);

  var iframe = null;
  var isOpen = false;
  // Until the window says "ready" the iframe is about:blank: a post to
  // origin would log an error on the host page.
  var frameReady = false;

  function tell() {
    if (iframe && frameReady && iframe.contentWindow) iframe.contentWindow.postMessage({ source: 'livechat', type: 'state', open: isOpen, url: location.href, title: document.title, ref: document.referrer }, origin);
  }

  // The header's colours (its text colour keeps the icon readable).
  function setColor(bg, fg) {
    var hex = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i;
    if (typeof bg === 'string' && hex.test(bg)) button.style.setProperty('--lc-bg', bg);
    if (typeof fg === 'string' && hex.test(fg)) button.style.setProperty('--lc-fg', fg);
  }

  // The iframe is made on the first open, or at once for a returning
  // visitor (so an answer shows as an unread dot while closed).
  function ensureFrame() {
    if (iframe) return;
    iframe = document.createElement('iframe');
    iframe.title = 'Chat';
    iframe.src = origin + '/chatbot/' + encodeURIComponent(username) + '/' + encodeURIComponent(visitorId(true));
    iframe.setAttribute('referrerpolicy', 'origin');
    frameReady = false;
    panel.appendChild(iframe);
    panel.appendChild(close);
  }

  function setOpen(on) {
    isOpen = on;
    if (on) ensureFrame();
    wrap.className = on ? 'open' : '';
    button.setAttribute('aria-expanded', String(on));
    button.setAttribute('aria-label', on ? 'Close chat' : 'Open chat');
    tell();
    if (on && iframe) iframe.focus();
  }
  button.addEventListener('click', function () { setOpen(!isOpen); });
  close.addEventListener('click', function () { setOpen(false); button.focus(); });
  document.addEventListener('keydown', function (e) { if (e.key === 'Escape' && isOpen) setOpen(false); });

  window.addEventListener('message', function (e) {
    if (e.origin !== origin || !iframe || e.source !== iframe.contentWindow) return;
    var d = e.data;
    if (!d || d.source !== 'livechat') return;
    if (d.type === 'ready') {
      frameReady = true;
      setColor(d.color, d.text);
      tell();
    } else if (d.type === 'close' && isOpen) {
      setOpen(false);
      button.focus();
    } else if (d.type === 'new_message' && !isOpen) {
      wrap.className = 'unread';
      button.setAttribute('aria-label', 'Open chat (new message)');
    }
  });

  function mount() {
    document.body.appendChild(host);
    setColor(script.getAttribute('data-color'), script.getAttribute('data-text'));
    if (visitorId(false)) ensureFrame();
  }
  if (document.body) mount();
  else document.addEventListener('DOMContentLoaded', mount);
})();
