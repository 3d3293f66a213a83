// Live updates from GET /v1/events (Server-Sent Events). EventSource cannot send an
// Authorization header, so the stream is read with fetch() and a ReadableStream reader and
// parsed here (the WHATWG event-stream format: `id:`, `event:`, `data:`, `retry:`, `:` comments,
// events ended by a blank line). After a drop it reconnects with `Last-Event-ID`, so no event is
// missed; a stream silent for longer than three keep-alives (the server sends a comment every
// 15 s) is taken as dropped. A resume point the server refuses (400) is dropped: the stream
// starts again from now and the view re-reads what it shows.

import { session } from './api.js';

const SILENCE_MS = 45000;

/** One SSE parser: feed it text chunks, it calls `emit({id, event, data})` per event. */
export class EventStreamParser {
  constructor(emit) {
    this.emit = emit;
    this.buffer = '';
    this.data = [];
    this.event = '';
    this.lastEventId = '';
    this.retry = null;
  }

  feed(chunk) {
    this.buffer += chunk;
    // Lines end with CRLF, LF or CR; a CR at the very end may be half of a CRLF: keep it.
    const lines = this.buffer.split(/\r\n|\n|\r(?!$)/);
    this.buffer = lines.pop();
    for (const line of lines) this.line(line);
  }

  line(line) {
    if (line === '') {
      if (this.data.length) {
        this.emit({ id: this.lastEventId, event: this.event || 'message', data: this.data.join('\n') });
      }
      this.data = [];
      this.event = '';
      return;
    }
    if (line.startsWith(':')) return; // a comment: keep-alive
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.data.push(value);
    else if (field === 'event') this.event = value;
    else if (field === 'id' && !value.includes('\0')) this.lastEventId = value;
    else if (field === 'retry' && /^\d+$/.test(value)) this.retry = Number(value);
  }
}

/**
 * A subscription to /v1/events with `filter` ({hub, spoke, job}); calls `onEvent(json)` for
 * each event, `onState(mode)` with 'connecting' | 'sse' | 'reconnecting' | 'gone', and
 * `onResync()` when events may have been missed (the view re-reads what it shows).
 */
export class LiveStream {
  constructor({ filter, onEvent, onState, onResync, onUnauthorized }) {
    this.filter = filter || {};
    this.onEvent = onEvent;
    this.onState = onState || (() => {});
    this.onResync = onResync || (() => {});
    this.onUnauthorized = onUnauthorized || (() => {});
    this.lastEventId = null;
    this.stopped = false;
    this.abort = null;
    this.events = 0;
    this.connections = 0;
    this.resumedFrom = []; // the Last-Event-IDs sent, for the curious (and the tests)
  }

  start() {
    this.run();
    return this;
  }

  stop() {
    this.stopped = true;
    if (this.abort) this.abort.abort();
  }

  async run() {
    let backoff = 500;
    this.onState('connecting');
    while (!this.stopped) {
      const outcome = await this.connect().catch((e) => (this.stopped ? 'stopped' : `error: ${e.message || e}`));
      if (this.stopped || outcome === 'stopped') return;
      if (outcome === 'gone') {
        // The hub, spoke or job filtered on does not exist (any more).
        this.onState('gone');
        return;
      }
      if (outcome === 'unauthorized') {
        this.onUnauthorized();
        return;
      }
      if (outcome === 'resync') {
        this.lastEventId = null;
        this.onResync();
      }
      if (outcome === 'ok') backoff = 500; // the stream ran, then ended: reconnect at once
      this.onState('reconnecting');
      await new Promise((r) => setTimeout(r, backoff));
      backoff = Math.min(backoff * 2, 10000);
    }
  }

  /** One connection: resolves when it ends ('ok' after a stream, or why it could not start). */
  async connect() {
    const abort = new AbortController();
    this.abort = abort;
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(this.filter)) if (v) params.set(k, v);
    const headers = { Accept: 'text/event-stream', Authorization: `Bearer ${session.token}` };
    if (this.lastEventId) {
      headers['Last-Event-ID'] = this.lastEventId;
      this.resumedFrom.push(this.lastEventId);
    }
    const qs = params.toString();
    const res = await fetch(`/v1/events${qs ? `?${qs}` : ''}`, {
      headers, signal: abort.signal, cache: 'no-store', credentials: 'omit',
    });
    if (res.status === 404) return 'gone';
    if (res.status === 401) return 'unauthorized';
    if (res.status === 400 && this.lastEventId) return 'resync';
    if (!res.ok || !res.body) return `HTTP ${res.status}`;
    this.connections += 1;
    this.onState('sse');
    const parser = new EventStreamParser((ev) => {
      this.lastEventId = ev.id || this.lastEventId;
      this.events += 1;
      let data = null;
      try { data = JSON.parse(ev.data); } catch { return; }
      this.onEvent(data, ev.event);
    });
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let watchdog = null;
    const arm = () => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => abort.abort(), SILENCE_MS);
    };
    arm();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        arm();
        parser.feed(value);
      }
    } catch (e) {
      if (this.stopped) return 'stopped';
    } finally {
      clearTimeout(watchdog);
    }
    return 'ok';
  }
}
