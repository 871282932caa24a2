/* gazewire.js: the browser client for experiments (jsPsych, lab.js, plain pages).
 *
 * An ES module over MQTT.js (mqtt.min.js, next to this file), no build step.
 * The same verbs as the Python client (gazewire.client.Lab):
 *
 *   import { connect } from "./gazewire.js";
 *   const lab = await connect({ url: "ws://lab-server:9001/mqtt", username: "stimulus-pc", password });
 *   const room = lab.session("room1");
 *   await room.clockOffset();                         // this browser's clock against the agent's
 *   const recording = await room.startRecording({ participant: "P07", name: "stroop" });
 *   room.markerAtNextFrame("stimulus_on");            // stamped when the frame is drawn
 *   await room.marker("response", { fields: { key: "f" } });   // stamped now
 *   const stop = room.gaze((gaze) => console.log(gaze.x, gaze.y));
 *   await room.stopRecording();
 *   lab.close();
 *
 * Time: markers are stamped with performance.timeOrigin + performance.now()
 * (milliseconds since 1970, sub-millisecond) and moved to the agent's clock by
 * the offset clockOffset() measured (NTP-style over "ping": several probes,
 * the one with the smallest round trip; the error is at most half of it).
 *
 * The wire contract is gazewire/wire (docs/protocol.md, docs/gazewire-v1.schema.json).
 * Every call that asks the agent waits for its reply (timeoutMs) and resolves,
 * or rejects with one of the errors exported below (the same names as in Python).
 *
 * Serving: browsers load ES modules only with a JavaScript Content-Type, which
 * Mosquitto's http_dir does not send. Copy gazewire.js and mqtt.min.js next to
 * the experiment and serve them from its web server (JATOS, Pavlovia, or
 * "python3 -m http.server" in the folder); see docs/experiments.md.
 */

const SESSION_ID = /^[A-Za-z0-9._-]{1,64}$/;
const AGENT_STATES = ["online", "tracking", "waiting_for_tracker", "tracker_lost", "stopped", "offline"];
const AUTH_CODES = new Set([4, 5, 134, 135]);
const RETAINED_GRACE_MS = 500;
const DEFAULT_PROBES = 10;

// ------------------------------------------------------------------ errors (as gazewire.errors)

export class GazewireError extends Error {
  constructor(message) { super(message); this.name = this.constructor.name; }
}
export class BrokerUnreachable extends GazewireError {}
export class BrokerRefused extends GazewireError {}
export class NotAuthorized extends GazewireError {}
export class ClientClosed extends GazewireError {}
export class InvalidArgument extends GazewireError {}
export class AgentNotResponding extends GazewireError {
  constructor(session, command, timeoutMs) {
    super(`no reply from session '${session}' to '${command}' within ${timeoutMs / 1000} s ` +
      "(is its agent running, and is the session id right?)");
    Object.assign(this, { session, command, timeoutMs });
  }
}
export class CommandRefused extends GazewireError {
  constructor(session, command, reason) {
    super(`session '${session}' refused '${command}': ${reason}`);
    Object.assign(this, { session, command, reason });
  }
}
export class AlreadyRecording extends CommandRefused {
  constructor(session, command, reason, recording) { super(session, command, reason); this.recording = recording; }
}
export class NotRecording extends CommandRefused {}
export class UnknownSession extends GazewireError {}
export class WaitTimeout extends GazewireError {}
export class UnsupportedByAgent extends GazewireError {}

/** The refusal a reply is: by its code; from agents older than the code, by its error text
 * (docs/protocol.md, "Refusals a script should expect"). */
export function refusalOf(session, command, reason, code = null, result = null) {
  if (code) {
    const running = result && typeof result.recording === "string" ? result.recording : null;
    if (code === "already_recording") return new AlreadyRecording(session, command, reason, running);
    if (code === "not_recording") return new NotRecording(session, command, reason);
    return new CommandRefused(session, command, reason);
  }
  const words = reason.split(/\s+/);
  if (command === "start" && reason.startsWith("start: recording ") && reason.includes(" is running")) {
    return new AlreadyRecording(session, command, reason, words[2] || null);
  }
  if ((command === "stop" || command === "annotate") &&
      (reason.startsWith(`${command}: no recording is running`) ||
       (reason.startsWith(`${command}: recording `) && reason.includes(" is not running")))) {
    return new NotRecording(session, command, reason);
  }
  return new CommandRefused(session, command, reason);
}

// ------------------------------------------------------------------ time

/** This page's clock: milliseconds since 1970 (UTC), sub-millisecond. */
export function pageClock() {
  return performance.timeOrigin + performance.now();
}

/** NTP's offset from probes {sentMs, agentReceivedMs, agentSentMs, receivedMs}: the smallest round trip wins. */
export function bestOffset(probes) {
  let best = null;
  for (const p of probes) {
    const roundTripMs = (p.receivedMs - p.sentMs) - (p.agentSentMs - p.agentReceivedMs);
    if (roundTripMs < 0) continue; // a clock stepped during the probe
    if (best === null || roundTripMs < best.roundTripMs) {
      const offsetMs = ((p.agentReceivedMs - p.sentMs) + (p.agentSentMs - p.receivedMs)) / 2;
      best = { offsetMs, roundTripMs, uncertaintyMs: roundTripMs / 2, probes: probes.length, measuredMs: p.receivedMs };
    }
  }
  if (best === null) throw new GazewireError(`no usable clock probe among ${probes.length}`);
  return best;
}

/** Milliseconds since 1970 as the integer of nanoseconds the contract wants (a decimal string, exact). */
function nanosecondsText(ms) {
  return (BigInt(Math.round(ms * 1000)) * 1000n).toString();
}

// ------------------------------------------------------------------ loading MQTT.js

function loadMqtt() {
  if (globalThis.mqtt) return Promise.resolve(globalThis.mqtt);
  return new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = new URL("./mqtt.min.js", import.meta.url).href; // a classic script: no MIME type needed
    script.onload = () => (globalThis.mqtt ? resolve(globalThis.mqtt) : reject(new GazewireError("mqtt.min.js loaded but defined no mqtt")));
    script.onerror = () => reject(new GazewireError(`could not load ${script.src} (copy mqtt.min.js next to gazewire.js)`));
    document.head.appendChild(script);
  });
}

function checkTimeout(timeoutMs) {
  if (typeof timeoutMs !== "number" || !(timeoutMs > 0)) {
    throw new InvalidArgument(`timeoutMs must be a positive number of milliseconds, got ${timeoutMs}`);
  }
  return timeoutMs;
}

function validSessionId(session) {
  if (typeof session !== "string" || !SESSION_ID.test(session) || session === "." || session === ".." || session === "_sys") {
    throw new InvalidArgument(`session id ${JSON.stringify(session)} is not valid: 1 to 64 letters, digits, '.', '_' and '-'`);
  }
  return session;
}

// ------------------------------------------------------------------ connecting

/**
 * Connect to the lab broker's WebSocket listener.
 * options: url (ws://host:9001/mqtt; default: this page's host, port 9001), username, password,
 * prefix ("lab"), timeoutMs (5000), clock (a function giving ms since 1970; default pageClock),
 * mqtt (the MQTT.js module, if the page loaded it another way).
 */
export async function connect(options = {}) {
  const timeoutMs = checkTimeout(options.timeoutMs ?? 5000);
  const url = options.url ?? `ws://${location.hostname || "localhost"}:9001/mqtt`;
  if (!/^wss?:\/\/\S+$/i.test(url)) throw new InvalidArgument(`the broker URL must start with ws:// or wss://, got ${url}`);
  const prefix = options.prefix ?? "lab";
  if (!prefix || prefix.startsWith("$") || prefix.split("/").some((level) => level === "" || /[+#\u0000]/.test(level))) {
    throw new InvalidArgument(`topic prefix ${JSON.stringify(prefix)} is not valid`);
  }
  const mqtt = options.mqtt ?? await loadMqtt();
  const client = mqtt.connect(url, {
    clientId: "gazewire-js-" + Math.random().toString(16).slice(2, 10),
    clean: true, protocolVersion: 5, keepalive: 30, connectTimeout: timeoutMs,
    reconnectPeriod: 0, // no retries until the first connection worked
    resubscribe: true,
    username: options.username || undefined, password: options.password || undefined,
  });
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new BrokerUnreachable(`no connection to the broker at ${url} within ${timeoutMs / 1000} s`)), timeoutMs);
    const onConnect = () => { done(); resolve(); };
    const onError = (error) => {
      if (AUTH_CODES.has(error && error.code)) fail(new BrokerRefused(`broker refused the connection: ${error.message}`));
      else fail(new BrokerUnreachable(`no connection to the broker at ${url}: ${error && error.message}`));
    };
    const onClose = () => fail(new BrokerUnreachable(`no connection to the broker at ${url}`));
    function done() {
      clearTimeout(timer);
      client.removeListener("connect", onConnect).removeListener("error", onError).removeListener("close", onClose);
    }
    function fail(error) { done(); client.end(true); reject(error); }
    client.on("connect", onConnect).on("error", onError).on("close", onClose);
  });
  client.options.reconnectPeriod = 2000; // from now on, ride out broker restarts
  const lab = new Lab(client, prefix, { timeoutMs, clock: options.clock ?? pageClock, username: options.username });
  await lab._subscribe(`${prefix}/+/status`, 1);
  lab._statusesSince = Date.now();
  return lab;
}

// ------------------------------------------------------------------ the lab

export class Lab {
  constructor(client, prefix, { timeoutMs, clock, username }) {
    this.client = client;
    this.prefix = prefix;
    this.timeoutMs = timeoutMs;
    this.clock = clock;
    this.username = username;
    this.closed = false;
    this._pending = new Map();  // command id -> {resolve, reject, timer}
    this._handlers = new Map(); // topic -> Set of handlers
    this._statuses = new Map(); // session -> status
    this._statusesSince = 0;
    this._statusListeners = new Set();
    client.on("message", (topic, payload) => this._onMessage(topic, payload));
  }

  session(id) { this._checkOpen(); return new Session(this, validSessionId(id)); }

  /** The stations (from their agents' retained statuses): [{session, state, tracker, recording, status}]. */
  async sessions() {
    this._checkOpen();
    const wait = this._statusesSince + RETAINED_GRACE_MS - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait)); // the retained burst
    return [...this._statuses.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([session, status]) => ({
      session, state: status.state, tracker: status.tracker || null, recording: status.recording || null, status,
    }));
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    for (const pending of this._pending.values()) { clearTimeout(pending.timer); pending.reject(new ClientClosed("this Lab connection is closed")); }
    this._pending.clear();
    this.client.end(true);
  }

  _checkOpen() { if (this.closed) throw new ClientClosed("this Lab connection is closed"); }

  _subscribe(topic, qos) {
    return new Promise((resolve, reject) => {
      this.client.subscribe(topic, { qos }, (error, granted) => {
        if (error) reject(new BrokerUnreachable(`could not subscribe to ${topic}: ${error.message}`));
        else if (granted && granted.some((g) => g.qos >= 128)) reject(new NotAuthorized(`the broker does not let ${this.username ? `user '${this.username}'` : "this client"} subscribe to ${topic}`));
        else resolve();
      });
    });
  }

  async _route(topic, handler, qos = 1) {
    let handlers = this._handlers.get(topic);
    if (!handlers) {
      handlers = new Set();
      this._handlers.set(topic, handlers);
      handlers.add(handler);
      await this._subscribe(topic, qos);
    } else {
      handlers.add(handler);
    }
    return () => {
      handlers.delete(handler);
      if (handlers.size === 0 && this._handlers.get(topic) === handlers) {
        this._handlers.delete(topic);
        if (!this.closed) this.client.unsubscribe(topic);
      }
    };
  }

  _onMessage(topic, payload) {
    const receivedMs = this.clock(); // first: a clock probe's receive time
    let message;
    try {
      message = JSON.parse(new TextDecoder().decode(payload));
      if (message === null || typeof message !== "object" || Array.isArray(message)) throw new Error("not a JSON object");
    } catch (error) {
      console.warn(`gazewire: ignored a bad message on ${topic}: ${error.message}`);
      return;
    }
    const levels = topic.slice(this.prefix.length + 1).split("/");
    if (levels.length === 2 && levels[1] === "status") {
      this._statuses.set(levels[0], message);
      for (const listener of this._statusListeners) listener(levels[0], message);
      return;
    }
    if (levels[1] === "cmd" && levels[2] === "reply") {
      const pending = this._pending.get(message.id);
      if (pending) {
        this._pending.delete(message.id);
        clearTimeout(pending.timer);
        pending.resolve({ reply: message, receivedMs });
      }
      return;
    }
    for (const handler of this._handlers.get(topic) || []) {
      try { handler(message); } catch (error) { console.error("gazewire: a handler failed", error); }
    }
  }

  /** Publish a command and wait for its reply: {sentMs, reply, receivedMs}. */
  async _ask(session, command, fields, timeoutMs) {
    this._checkOpen();
    timeoutMs = checkTimeout(timeoutMs ?? this.timeoutMs);
    const replies = `${this.prefix}/${session}/cmd/reply`;
    if (!this._handlers.has(replies)) await this._route(replies, () => {});
    const id = Math.random().toString(16).slice(2, 10) + Date.now().toString(16).slice(-6);
    const { utcNs, ...rest } = fields;
    let payload = JSON.stringify({ v: 1, id, command, ...rest });
    if (utcNs !== undefined) payload = payload.slice(0, -1) + `,"utc_ns":${utcNs}}`; // exact: no float in between
    const answer = new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this._pending.delete(id);
        reject(this.client.connected ? new AgentNotResponding(session, command, timeoutMs)
          : new BrokerUnreachable(`no connection to the broker within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      this._pending.set(id, { resolve, reject, timer });
    });
    const sentMs = this.clock();
    this.client.publish(`${this.prefix}/${session}/cmd`, payload, { qos: 1 }, (error) => {
      const pending = this._pending.get(id);
      if (!error || !pending) return;
      this._pending.delete(id);
      clearTimeout(pending.timer);
      pending.reject(error.code === 135
        ? new NotAuthorized(`the broker does not let ${this.username ? `user '${this.username}'` : "this client"} publish on ${this.prefix}/${session}/cmd: Not authorized`)
        : new GazewireError(`publishing the command failed: ${error.message}`));
    });
    const { reply, receivedMs } = await answer;
    return { sentMs, reply, receivedMs };
  }
}

// ------------------------------------------------------------------ one station

export class Session {
  constructor(lab, id) {
    this.lab = lab;
    this.id = id;
    this.offset = null; // the last clockOffset(): {offsetMs, roundTripMs, uncertaintyMs, probes, measuredMs}
  }

  async _result(command, fields = {}, timeoutMs) {
    const { reply } = await this.lab._ask(this.id, command, fields, timeoutMs);
    if (!reply.ok) {
      throw refusalOf(this.id, reply.command || command, reply.error || "refused without a reason", reply.code, reply.result);
    }
    return reply.result || {};
  }

  async _recording(command, fields, timeoutMs) {
    const result = await this._result(command, fields, timeoutMs);
    if (typeof result.recording !== "string") throw new UnsupportedByAgent(`the agent of session '${this.id}' does not support recordings: update it`);
    return { id: result.recording, session: this.id, name: result.name ?? null, participant: result.participant ?? null,
      metadata: result.metadata || {}, startedUtc: result.started_utc ?? null, stoppedUtc: result.stopped_utc ?? null,
      samples: result.samples ?? null };
  }

  /** Start a recording: {name, participant, metadata}; resolves with it ({id, ...}). AlreadyRecording while one runs. */
  startRecording({ name, participant, metadata, timeoutMs } = {}) {
    return this._recording("start", clean({ name, participant, metadata }), timeoutMs);
  }

  /** Stop the running recording (only if it is `recording`, when given). NotRecording when none runs. */
  stopRecording({ recording, timeoutMs } = {}) {
    return this._recording("stop", clean({ recording }), timeoutMs);
  }

  /** Add metadata to the running recording. */
  annotate(metadata, { recording, timeoutMs } = {}) {
    return this._recording("annotate", clean({ metadata, recording }), timeoutMs);
  }

  /**
   * Mark an event. `at`: when, in ms since 1970 on this page's clock (default: now);
   * moved to the agent's clock by the measured offset (applyOffset: false to send it as it is).
   * Resolves with the marker as the agent took it: {name, utcNs (text), recording, systemTimeUs}.
   */
  async marker(name, { at, applyOffset = true, timeoutMs } = {}) {
    const stampMs = at ?? this.lab.clock();
    if (typeof name !== "string" || name.length === 0 || name.length > 200) {
      throw new InvalidArgument("a marker needs a name of 1 to 200 characters");
    }
    if (typeof stampMs !== "number" || !Number.isFinite(stampMs)) throw new InvalidArgument(`at must be ms since 1970, got ${stampMs}`);
    const offsetMs = applyOffset ? (this.offset ?? await this.clockOffset()).offsetMs : 0;
    const result = await this._result("marker", { name, utcNs: nanosecondsText(stampMs + offsetMs) }, timeoutMs);
    return { name: result.name, utcNs: String(result.utc_ns), recording: result.recording ?? null,
      systemTimeUs: result.system_time_us ?? null, session: this.id };
  }

  /** A marker stamped with the time of the next animation frame (the frame that shows what was just put on the page). */
  markerAtNextFrame(name, options = {}) {
    return new Promise((resolve, reject) => {
      requestAnimationFrame((frameMs) => {
        this.marker(name, { ...options, at: performance.timeOrigin + frameMs + (this.lab.clock() - pageClock()) })
          .then(resolve, reject);
      });
    });
  }

  /** Measure the agent's clock against this page's (NTP-style); kept as this.offset. */
  async clockOffset({ probes = DEFAULT_PROBES, timeoutMs } = {}) {
    if (!Number.isInteger(probes) || probes < 1) throw new InvalidArgument(`probes must be a whole number of at least 1, got ${probes}`);
    const measured = [];
    for (let i = 0; i < probes; i++) {
      const { sentMs, reply, receivedMs } = await this.lab._ask(this.id, "ping", {}, timeoutMs);
      if (!reply.ok) throw refusalOf(this.id, "ping", reply.error || "refused", reply.code, reply.result);
      if (typeof reply.received_utc_ns !== "number" || typeof reply.sent_utc_ns !== "number") {
        throw new UnsupportedByAgent(`the agent of session '${this.id}' does not support clock offsets: update it`);
      }
      measured.push({ sentMs, agentReceivedMs: reply.received_utc_ns / 1e6, agentSentMs: reply.sent_utc_ns / 1e6, receivedMs });
    }
    this.offset = bestOffset(measured);
    return this.offset;
  }

  /** The agent's latest status; UnknownSession when it has none. */
  async status() {
    await this.lab.sessions(); // the retained burst
    const status = this.lab._statuses.get(this.id);
    if (!status) throw new UnknownSession(`no agent status for session '${this.id}' under prefix '${this.lab.prefix}'`);
    return status;
  }

  /** Wait until the agent's state is `state` (or one of several); resolves with the status. */
  waitFor(state, { timeoutMs } = {}) {
    const states = Array.isArray(state) ? state : [state];
    const unknown = states.filter((s) => !AGENT_STATES.includes(s));
    if (unknown.length) return Promise.reject(new InvalidArgument(`unknown agent state '${unknown[0]}'; known: ${AGENT_STATES.join(", ")}`));
    timeoutMs = checkTimeout(timeoutMs ?? this.lab.timeoutMs);
    return new Promise((resolve, reject) => {
      const listeners = this.lab._statusListeners;
      const check = (session, status) => {
        if (session !== this.id || !states.includes(status.state)) return false;
        listeners.delete(check); clearTimeout(timer); resolve(status); return true;
      };
      const timer = setTimeout(() => {
        listeners.delete(check);
        const last = this.lab._statuses.get(this.id);
        reject(new WaitTimeout(`session '${this.id}' to be ${states.join(" or ")}: not within ${timeoutMs / 1000} s ` +
          `(${last ? "last state: " + last.state : "no status from its agent"})`));
      }, timeoutMs);
      listeners.add(check);
      const now = this.lab._statuses.get(this.id);
      if (now) check(this.id, now);
    });
  }

  /** Live gaze: `callback(gaze)` for every message ({x, y, eye, pupil, utc_us, recording, ...}); returns a function that stops it. */
  gaze(callback) { return this._follow("gaze", callback, 0); }

  /** Fixation starts and ends (from the processor); returns a function that stops it. */
  fixations(callback) { return this._follow("fixations", callback, 1); }

  /** Alerts raised and cleared (from the processor); returns a function that stops it. */
  alerts(callback) { return this._follow("alerts", callback, 1); }

  /** Markers as the agent took them (from any sender); returns a function that stops it. */
  markers(callback) { return this._follow("events", callback, 1); }

  _follow(channel, callback, qos) {
    this.lab._checkOpen();
    let stop = null;
    let stopped = false;
    const ready = this.lab._route(`${this.lab.prefix}/${this.id}/${channel}`, callback, qos).then((unroute) => {
      stop = unroute;
      if (stopped) unroute();
    });
    const end = () => { stopped = true; if (stop) stop(); };
    end.ready = ready; // a promise: the broker confirmed the subscription
    return end;
  }
}

function clean(fields) {
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined && value !== null));
}
