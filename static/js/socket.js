// A reconnecting websocket speaking SPEC's JSON frames.

/**
 * A websocket that reconnects by itself with exponential backoff and
 * jitter. Frames sent while it is down are dropped (send returns false);
 * callers refetch in onopen.
 */
export class ReconnectingSocket {
  /**
   * @param {string} path e.g. "/ws/room/alice"
   * @param {{onopen?: Function, onmessage?: Function, onstatus?: Function}} handlers
   */
  constructor(path, handlers) {
    this.url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + path;
    this.h = handlers;
    this.attempt = 0;
    this.closed = false;
    this.ws = null;
    this.timer = 0;
    this.online = false;
    this.everTried = false;
    this.openedAt = 0;
    this.onWake = () => { if (!this.online && !this.closed) this.retryNow(); };
    window.addEventListener('online', this.onWake);
    this.dial();
  }

  /** @private Opens a new connection (or schedules one if that throws). */
  dial() {
    if (this.closed) return;
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch (e) {
      this.schedule();
      return;
    }
    this.ws = ws;
    ws.addEventListener('open', () => {
      this.openedAt = Date.now();
      this.setOnline(true);
      if (this.h.onopen) this.h.onopen();
    });
    ws.addEventListener('message', (ev) => {
      let msg;
      try { msg = JSON.parse(ev.data); } catch (e) { return; }
      // Every server frame is an object with a "command"; ignore the rest.
      if (!msg || typeof msg !== 'object' || typeof msg.command !== 'string') return;
      if (this.h.onmessage) this.h.onmessage(msg);
    });
    ws.addEventListener('close', () => {
      if (this.ws !== ws) return;
      this.ws = null;
      // Back off from the start again only after a connection that held;
      // one the server drops at once keeps backing off.
      if (this.openedAt && Date.now() - this.openedAt > 5000) this.attempt = 0;
      this.openedAt = 0;
      this.setOnline(false);
      this.schedule();
    });
  }

  /** @private Reports a change of status (and the first one) to onstatus. */
  setOnline(on) {
    const first = !this.everTried;
    this.everTried = true;
    if (this.online === on && !first) return;
    this.online = on;
    if (this.h.onstatus) this.h.onstatus(on);
  }

  /** @private Dials again after the next backoff delay, with jitter. */
  schedule() {
    if (this.closed) return;
    const base = Math.min(15000, 500 * 2 ** this.attempt);
    this.attempt++;
    const delay = base / 2 + Math.random() * base / 2;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.dial(), delay);
  }

  /** Dials at once, without waiting for the backoff (the browser is back online). */
  retryNow() {
    clearTimeout(this.timer);
    if (!this.ws) this.dial();
  }

  /** @returns {boolean} whether the frame went out */
  send(obj) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(obj));
    return true;
  }

  /** Closes the socket for good: no more reconnects. */
  close() {
    this.closed = true;
    clearTimeout(this.timer);
    window.removeEventListener('online', this.onWake);
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.close(1000);
    }
  }
}
