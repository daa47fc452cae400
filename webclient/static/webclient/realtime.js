// /ws/ with a single-use ticket (never a JWT in the URL), reconnect with exponential backoff and
// full jitter, and /sync after every hello: live events and synced items go through one
// de-duplicating, in-order dispatcher, so a message sent while the tab was offline shows once.
import { api, post, refreshTokens } from "./api.js";

const KEYED = new Set(["message.new", "message.read", "message.deleted", "group.message.new"]);

export class Realtime {
  constructor(userId, dispatch, onState) {
    this.userId = userId;
    this.dispatch = dispatch;
    this.onState = onState;
    this.attempt = 0;
    this.seen = new Set();
    this.queue = Promise.resolve();
    this.stopped = false;
    this.sinceKey = `messenger.since.${userId}`;
    this.onOnline = () => { this.attempt = 0; this.connectSoon(0); };
    this.onOffline = () => { if (this.ws) this.ws.close(); };
    addEventListener("online", this.onOnline);
    addEventListener("offline", this.onOffline);
  }

  start() { this.connect(); }

  stop() {
    this.stopped = true;
    removeEventListener("online", this.onOnline);
    removeEventListener("offline", this.onOffline);
    clearTimeout(this.timer);
    clearInterval(this.pinger);
    if (this.ws) this.ws.close(1000);
  }

  send(type, data) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN && this.ready) this.ws.send(JSON.stringify({ type, data }));
  }

  connectSoon(delay) {
    clearTimeout(this.timer);
    if (!this.stopped) this.timer = setTimeout(() => this.connect(), delay);
  }

  async connect() {
    if (this.stopped || (this.ws && this.ws.readyState <= WebSocket.OPEN)) return;
    // Offline, a ticket cannot even be asked for: the "online" event reconnects at once.
    if (!navigator.onLine) return this.onState("offline");
    this.onState("connecting");
    let ticket;
    try {
      ticket = (await post("/auth/ws-ticket")).ticket;
    } catch (error) {
      if (error.status === 401) return; // logged out: the app goes back to the login screen
      return this.retry();
    }
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${scheme}//${location.host}/ws/?ticket=${encodeURIComponent(ticket)}`);
    this.ws = ws;
    this.ready = false;
    let openedAt = 0;
    ws.onmessage = (event) => {
      let frame;
      try { frame = JSON.parse(event.data); } catch { return; }
      if (frame.type === "hello") {
        openedAt = Date.now();
        this.ready = true;
        this.onState("online");
        this.enqueue(() => this.sync());
        this.onHello && this.onHello();
        clearInterval(this.pinger);
        this.pinger = setInterval(() => this.send("ping", {}), 25000);
        return;
      }
      if (frame.type === "pong") return;
      this.enqueue(() => this.deliver(frame.type, frame.data));
    };
    ws.onclose = async (event) => {
      clearInterval(this.pinger);
      this.ready = false;
      if (this.ws !== ws || this.stopped) return;
      this.onState("offline");
      // A socket that stayed up a minute starts the backoff again.
      if (openedAt && Date.now() - openedAt > 60000) this.attempt = 0;
      if (event.code === 4401) {
        try { await refreshTokens(); } catch { return; }
      }
      this.retry();
    };
  }

  retry() {
    // Full jitter: random(0, min(30 s, 0.5 s × 2^attempt)).
    const cap = Math.min(30000, 500 * 2 ** this.attempt);
    this.attempt += 1;
    this.connectSoon(Math.random() * cap);
  }

  enqueue(task) {
    this.queue = this.queue.then(task).catch((error) => console.warn("realtime", error));
  }

  async deliver(type, data) {
    if (KEYED.has(type)) {
      const key = `${type} ${data.id}`;
      if (this.seen.has(key)) return;
      this.seen.add(key);
    }
    await this.dispatch(type, data);
  }

  async sync() {
    let since = localStorage.getItem(this.sinceKey);
    if (!since) {
      const fresh = await api("GET", "/sync");
      localStorage.setItem(this.sinceKey, fresh.next_since);
      return;
    }
    for (;;) {
      const page = await api("GET", `/sync?since=${encodeURIComponent(since)}&limit=200`);
      for (const item of page.items) await this.deliver(item.type, item.data);
      since = page.next_since;
      localStorage.setItem(this.sinceKey, since);
      if (!page.has_more) break;
    }
  }
}
