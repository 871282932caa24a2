/* gazewire live page: log in, pick a session, watch it.
 *
 * Reads only what is on the wire (gazewire/wire/topics.py, gazewire/wire/messages.py):
 *   <prefix>/+/status                       retained agent status: the session list
 *   <prefix>/<session>/gaze                 live gaze (x, y normalised), QoS 0
 *   <prefix>/<session>/gaze/batch           lossless batches: only "count" is used (samples/s)
 *   <prefix>/<session>/fixations            fixation start/end (processor)
 *   <prefix>/<session>/saccades             saccades, when over (processor, algorithm ivd)
 *   <prefix>/<session>/pursuits             smooth-pursuit segments, when over (ivd)
 *   <prefix>/<session>/blinks               blinks, when over (ivd)
 *   <prefix>/<session>/alerts               alert raised/cleared (processor)
 *   <prefix>/<session>/aoi                  AOI enter/exit (processor)
 *   <prefix>/_sys/processor/+/status        processor status (retained); AOI rectangles if it lists them
 * Bad JSON and wrong types are ignored with a console warning; unknown fields are ignored.
 *
 * The state is on window.gazewireView (and data-* attributes of the canvas) for
 * tests and for anyone curious in the browser console.
 */
(function () {
  "use strict";

  var STORAGE_KEY = "gazewire.live.v1"; // per origin; the password is never stored
  var RATE_WINDOW_MS = 5000;
  var STALE_MS = 2500;
  var TRAIL_LENGTH = 12;
  var RECONNECT_MS = 3000;

  var STATE_TEXT = {
    online: "Online, not tracking",
    tracking: "Tracking",
    waiting_for_tracker: "Waiting for the tracker",
    tracker_lost: "Tracker lost",
    stopped: "Stopped",
    offline: "Offline"
  };
  var ALERT_TEXT = {
    long_fixation: "Long fixation",
    aoi_dwell: "Long dwell in an area of interest",
    gaze_lost: "Gaze lost",
    agent_offline: "Agent offline",
    sample_rate_low: "Sample rate low",
    drowsiness: "Drowsiness (blinks)"
  };
  var AUTH_CODES = { 4: true, 5: true, 134: true, 135: true };

  function $(id) { return document.getElementById(id); }

  function isObject(value) {
    return value !== null && typeof value === "object" && !Array.isArray(value);
  }
  function num(value) {
    return typeof value === "number" && Number.isFinite(value) ? value : null;
  }
  function text(value) {
    return typeof value === "string" ? value : null;
  }
  function formatNumber(value, digits) {
    if (value === null || value === undefined) return "–";
    return Number(value).toLocaleString("en-GB", { maximumFractionDigits: digits === undefined ? 1 : digits });
  }
  function timeOf(utc) {
    var date = utc ? new Date(utc) : null;
    return date && !isNaN(date.getTime()) ? date : null;
  }
  function clockText(date) {
    return date ? date.toLocaleTimeString("en-GB", { hour12: false }) : "–";
  }
  function agoText(date, now) {
    if (!date) return "";
    var seconds = Math.max(0, Math.round((now - date.getTime()) / 1000));
    if (seconds < 60) return seconds + " s ago";
    if (seconds < 3600) return Math.round(seconds / 60) + " min ago";
    return Math.round(seconds / 3600) + " h ago";
  }
  function humanize(key) {
    return String(key).replace(/_/g, " ");
  }
  function detailText(value) {
    if (typeof value === "number") return formatNumber(value, 3);
    if (typeof value === "string") return value;
    var json = JSON.stringify(value);
    return json && json.length > 80 ? json.slice(0, 77) + "..." : String(json);
  }
  function parse(topic, payload) {
    var raw;
    try {
      raw = new TextDecoder().decode(payload);
      var value = JSON.parse(raw);
      if (!isObject(value)) throw new Error("not a JSON object");
      return value;
    } catch (error) {
      view.badMessages += 1;
      console.warn("gazewire live: ignored a bad message on " + topic + ": " + error.message);
      return null;
    }
  }
  function validPrefix(prefix) {
    if (!prefix || prefix.charAt(0) === "$") return false;
    return prefix.split("/").every(function (level) {
      return level !== "" && !/[+#\u0000]/.test(level);
    });
  }

  // ------------------------------------------------------------------ state (also for tests)

  var view = window.gazewireView = {
    connection: "disconnected",
    error: "",
    url: "",
    prefix: "lab",
    sessions: {},          // session -> {state, model, host, status}
    selected: null,
    subscribedSession: null, // the selected session once the broker confirmed its subscriptions
    status: null,          // the selected session's latest status
    gaze: null,            // {x, y, seq, sample_seq, eye, pupil, utc, receivedAt}
    trail: [],
    fixations: [],         // finished fixations, oldest first (the last fixationLimit are shown)
    provisional: {},       // fixation number -> start event
    fixationLimit: 10,     // also the number of saccades and pursuit segments shown
    saccades: [],          // {saccade, start_x, start_y, end_x, end_y, amplitude_deg, ...}, oldest first
    pursuits: [],          // {pursuit, start_x, start_y, end_x, end_y, mean_velocity_deg_s, ...}
    blinks: { count: 0, last_ms: null, seen: {} },
    alerts: {},            // key -> raised alert
    aois: {},              // name -> {name, inside, dwell_ms, rect}
    processorAois: {},     // session ("*": every session) -> [{name, rect}]
    processors: {},
    rates: { live: 0, samples: 0, batches: 0 },
    badMessages: 0,
    select: function (session) { selectSession(session); },
    disconnect: function () { logout(); }
  };

  var client = null;
  var everConnected = false;
  var authFailed = false;
  var liveTimes = [];      // arrival times (ms) of live gaze messages
  var batchTimes = [];     // [arrival ms, count]
  var sessionTopics = [];
  var rateStart = performance.now();
  var FIXATIONS_KEPT = 50; // the largest choice of "show the last"
  var screen = null;

  // ------------------------------------------------------------------ stylesheet fallback

  function ensureStylesheet() {
    // A browser that refuses a stylesheet served without Content-Type gets it as a <style>.
    var applied = getComputedStyle(document.documentElement).getPropertyValue("--gazewire-css").trim();
    if (applied || !window.fetch) return;
    fetch("style.css").then(function (response) { return response.text(); }).then(function (css) {
      var style = document.createElement("style");
      style.textContent = css;
      document.head.appendChild(style);
    }).catch(function (error) {
      console.warn("gazewire live: could not load style.css: " + error.message);
    });
  }

  // ------------------------------------------------------------------ login

  function defaultUrl() {
    if (location.protocol === "http:" || location.protocol === "https:") {
      return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/mqtt";
    }
    return "ws://localhost:9001/mqtt";
  }

  function loadSaved() {
    try {
      return JSON.parse(localStorage.getItem(STORAGE_KEY) || "{}") || {};
    } catch (error) {
      return {};
    }
  }

  function save(settings) {
    try {
      localStorage.setItem(STORAGE_KEY, JSON.stringify(settings));
    } catch (error) {
      console.warn("gazewire live: cannot remember the settings: " + error.message);
    }
  }

  function setConnection(state, message) {
    view.connection = state;
    document.body.setAttribute("data-connection", state);
    $("connection-line").textContent = message;
  }

  function showLoginError(message) {
    view.error = message;
    var box = $("login-error");
    box.textContent = message;
    box.hidden = !message;
  }

  function showLogin(errorMessage) {
    $("live").hidden = true;
    $("login").hidden = false;
    $("disconnect").hidden = true;
    showLoginError(errorMessage || "");
    $("connect").disabled = false;
    if (errorMessage) {
      setConnection("error", "Not connected");
      $("password").focus();
    } else {
      setConnection("disconnected", "Not connected");
    }
  }

  function authMessage(user) {
    return user
      ? "The broker refused user \u201c" + user + "\u201d: wrong user name or password, or the user may not log in. Check both and try again."
      : "The broker refused an anonymous login: enter a user name and password.";
  }

  function unreachableMessage(url) {
    return "Cannot reach the broker at " + url + ". Check the address, that the broker is running, " +
      "and that its WebSocket listener (port 9001) is reachable from this computer.";
  }

  function connect(event) {
    if (event) event.preventDefault();
    var url = $("url").value.trim();
    var user = $("username").value.trim();
    var password = $("password").value;
    var prefix = $("prefix").value.trim().replace(/\/+$/, "");
    if (!/^wss?:\/\/[^\s]+$/i.test(url)) {
      showLoginError("The broker URL must start with ws:// or wss://, e.g. " + defaultUrl());
      $("url").focus();
      return;
    }
    if (!validPrefix(prefix)) {
      showLoginError("The topic prefix must be one or more topic levels without +, # or a leading $ (e.g. lab).");
      $("prefix").focus();
      return;
    }
    if (typeof window.mqtt === "undefined") {
      showLoginError("mqtt.min.js did not load; the page is incomplete (check deploy/mosquitto/www).");
      return;
    }
    save({ url: url, username: user, prefix: prefix });
    closeClient();
    view.url = url;
    view.prefix = prefix;
    everConnected = false;
    authFailed = false;
    showLoginError("");
    $("connect").disabled = true;
    setConnection("connecting", "Connecting to " + url + " ...");

    var options = {
      clientId: "gazewire-live-" + Math.random().toString(16).slice(2, 10),
      clean: true,
      protocolVersion: 5,
      keepalive: 30,
      connectTimeout: 8000,
      reconnectPeriod: 0, // no retries until the first login worked
      resubscribe: false // the connect handler subscribes again itself, and says when it is done
    };
    if (user) options.username = user;
    if (password) options.password = password;
    var current;
    try {
      current = client = window.mqtt.connect(url, options);
    } catch (error) {
      showLogin("The broker URL is not usable: " + error.message);
      return;
    }
    current.on("connect", function () {
      if (current !== client) return;
      everConnected = true;
      current.options.reconnectPeriod = RECONNECT_MS; // from now on, ride out broker restarts
      setConnection("connected", "Connected to " + url + (user ? " as " + user : ""));
      $("login").hidden = true;
      $("live").hidden = false;
      $("disconnect").hidden = false;
      $("password").value = "";
      $("sessions-prefix").textContent = view.prefix;
      current.subscribe([view.prefix + "/+/status", view.prefix + "/_sys/processor/+/status"], { qos: 1 },
        function (error) {
          if (error) console.warn("gazewire live: could not subscribe to the status topics: " + error.message);
          else document.body.setAttribute("data-status-subscribed", "true");
        });
      if (view.selected) subscribeSession(view.selected); // after a reconnect (clean session)
      if (screen) screen.resize();
    });
    current.on("message", function (topic, payload, packet) {
      if (current === client) onMessage(topic, payload, packet);
    });
    current.on("error", function (error) {
      if (current !== client) return;
      var code = error && error.code;
      console.warn("gazewire live: broker error: " + (error && error.message) + " (code " + code + ")");
      if (AUTH_CODES[code] || /not authori[sz]ed|bad user ?name or password/i.test(error && error.message)) {
        authFailed = true;
        closeClient();
        showLogin(authMessage(user));
      }
    });
    current.on("reconnect", function () {
      if (current === client) setConnection("reconnecting", "Connection lost; reconnecting to " + url + " ...");
    });
    current.on("close", function () {
      if (current !== client || authFailed) return;
      if (!everConnected) {
        closeClient();
        showLogin(unreachableMessage(url));
      } else {
        view.subscribedSession = null;
        document.body.setAttribute("data-subscribed", "");
        setConnection("reconnecting", "Connection lost; reconnecting to " + url + " ...");
      }
    });
  }

  function closeClient() {
    if (client) {
      var old = client;
      client = null;
      try {
        old.end(true);
      } catch (error) {
        console.warn("gazewire live: " + error.message);
      }
    }
    sessionTopics = [];
  }

  function logout() {
    closeClient();
    view.sessions = {};
    view.selected = null;
    view.processors = {};
    view.processorAois = {};
    resetSession();
    renderSessions();
    showLogin("");
  }

  // ------------------------------------------------------------------ messages

  function onMessage(topic, payload) {
    var prefix = view.prefix + "/";
    if (topic.indexOf(prefix) !== 0) return;
    var levels = topic.slice(prefix.length).split("/");
    var session = levels[0];
    var channel = levels.slice(1).join("/");
    if (session === "_sys") {
      if (levels[1] === "processor" && levels[3] === "status" && levels.length === 4) {
        onProcessorStatus(levels[2], payload, topic);
      }
      return;
    }
    if (channel === "status") {
      onStatus(session, payload, topic);
      return;
    }
    if (session !== view.selected) return;
    var message = parse(topic, payload);
    if (!message) return;
    if (text(message.session) && message.session !== session) {
      console.warn("gazewire live: " + topic + " carries session " + message.session + "; ignored");
      return;
    }
    if (channel === "gaze") onGaze(message, topic);
    else if (channel === "gaze/batch") onBatch(message, topic);
    else if (channel === "fixations") onFixation(message, topic);
    else if (channel === "saccades") onMovement("saccade", view.saccades, message, topic);
    else if (channel === "pursuits") onMovement("pursuit", view.pursuits, message, topic);
    else if (channel === "blinks") onBlink(message, topic);
    else if (channel === "alerts") onAlert(message, topic);
    else if (channel === "aoi") onAoi(message, topic);
  }

  function onStatus(session, payload, topic) {
    if (!payload || payload.length === 0) { // retained status deleted
      delete view.sessions[session];
      renderSessions();
      return;
    }
    var status = parse(topic, payload);
    if (!status) return;
    var state = text(status.state);
    if (!state) {
      console.warn("gazewire live: status on " + topic + " has no state; ignored");
      return;
    }
    var tracker = isObject(status.tracker) ? status.tracker : {};
    view.sessions[session] = {
      state: state,
      model: text(tracker.model) || text(tracker.source) || "",
      host: text(status.host) || "",
      status: status
    };
    renderSessions();
    if (session === view.selected) {
      view.status = status;
      renderAgent();
      var area = isObject(status.display_area) ? status.display_area : {};
      screen.setDisplayArea(num(area.width_mm), num(area.height_mm));
      redraw();
    }
  }

  function onProcessorStatus(id, payload, topic) {
    if (!payload || payload.length === 0) {
      delete view.processors[id];
    } else {
      var status = parse(topic, payload);
      if (!status) return;
      view.processors[id] = { state: text(status.state) || "?", utc: text(status.utc) };
      // AOI rectangles, if the processor lists them: {"aois": [...]} for every session
      // and/or {"sessions": {"<session>": {"aois": [...]}}}; each {name, x_min, y_min, x_max, y_max}.
      if (Array.isArray(status.aois)) view.processorAois["*"] = status.aois;
      if (isObject(status.sessions)) {
        Object.keys(status.sessions).forEach(function (session) {
          var entry = status.sessions[session];
          if (isObject(entry) && Array.isArray(entry.aois)) view.processorAois[session] = entry.aois;
        });
      }
      mergeProcessorAois();
    }
    var names = Object.keys(view.processors);
    $("processor-line").textContent = names.length
      ? "Processor: " + names.map(function (n) { return n + " " + view.processors[n].state; }).join(", ")
      : "";
  }

  function rectOf(source) {
    if (!isObject(source)) return null;
    var r = { x_min: num(source.x_min), y_min: num(source.y_min), x_max: num(source.x_max), y_max: num(source.y_max) };
    if (r.x_min === null || r.y_min === null || r.x_max === null || r.y_max === null) return null;
    if (!(r.x_min < r.x_max && r.y_min < r.y_max)) return null;
    return r;
  }

  function aoiEntry(name) {
    if (!view.aois[name]) view.aois[name] = { name: name, inside: false, dwell_ms: null, rect: null, visits: 0 };
    return view.aois[name];
  }

  function mergeProcessorAois() {
    if (!view.selected) return;
    var lists = [view.processorAois["*"] || [], view.processorAois[view.selected] || []];
    lists.forEach(function (list) {
      list.forEach(function (item) {
        var name = isObject(item) ? text(item.name) : null;
        var rect = rectOf(item);
        if (name && rect) aoiEntry(name).rect = rect;
      });
    });
    renderAois();
    redraw();
  }

  function onGaze(message, topic) {
    var x = num(message.x), y = num(message.y);
    if (x === null || y === null) {
      console.warn("gazewire live: gaze on " + topic + " without numeric x/y; ignored");
      return;
    }
    var now = performance.now();
    view.gaze = {
      x: x, y: y, seq: num(message.seq), sample_seq: num(message.sample_seq), eye: text(message.eye),
      pupil: num(message.pupil), utc: text(message.utc), receivedAt: now
    };
    view.trail.push({ x: x, y: y });
    if (view.trail.length > TRAIL_LENGTH) view.trail.shift();
    liveTimes.push(now);
    var canvas = $("screen");
    canvas.setAttribute("data-gaze-x", x.toFixed(4));
    canvas.setAttribute("data-gaze-y", y.toFixed(4));
    canvas.setAttribute("data-gaze-seq", view.gaze.seq === null ? "" : String(view.gaze.seq));
    $("gaze-line").textContent = "x " + x.toFixed(3) + "  y " + y.toFixed(3) +
      (view.gaze.eye ? "  \u00b7 eye " + view.gaze.eye : "") +
      (view.gaze.pupil !== null ? "  \u00b7 pupil " + view.gaze.pupil.toFixed(2) + " mm" : "");
    redraw();
  }

  function onBatch(message, topic) {
    var count = num(message.count);
    if (count === null || count < 0) {
      console.warn("gazewire live: batch on " + topic + " without a count; ignored");
      return;
    }
    var seq = num(message.batch_seq);
    var run = text(message.run);
    var key = (run || "") + ":" + seq;
    if (seq !== null && batchTimes.some(function (b) { return b[2] === key; })) return; // QoS 1 duplicate
    batchTimes.push([performance.now(), count, key]);
    updateRates();
  }

  function onFixation(message, topic) {
    var number = num(message.fixation);
    var event = text(message.event);
    if (number === null || (event !== "start" && event !== "end")) {
      console.warn("gazewire live: fixation on " + topic + " without event/fixation; ignored");
      return;
    }
    var fixation = {
      fixation: number, event: event, x: num(message.x), y: num(message.y),
      duration_ms: num(message.duration_ms), start_utc_us: num(message.start_utc_us),
      dispersion_deg: num(message.dispersion_deg), algorithm: text(message.algorithm)
    };
    if (event === "end" && message.retracted === true) {
      // a tentative start that was smooth pursuit after all: no fixation happened
      delete view.provisional[number];
      view.fixations = view.fixations.filter(function (f) { return f.fixation !== number; });
    } else if (event === "start") {
      // one fixation at a time: an older start whose end never came is dropped
      Object.keys(view.provisional).forEach(function (n) {
        if (Number(n) !== number) delete view.provisional[n];
      });
      if (!view.fixations.some(function (f) { return f.fixation === number; })) {
        view.provisional[number] = fixation;
      }
    } else {
      Object.keys(view.provisional).forEach(function (n) {
        if (Number(n) <= number) delete view.provisional[n];
      });
      var index = view.fixations.findIndex(function (f) { return f.fixation === number; });
      if (index >= 0) view.fixations[index] = fixation; // a QoS 1 duplicate
      else view.fixations.push(fixation);
      view.fixations.sort(function (a, b) { return a.fixation - b.fixation; });
      trimFixations();
    }
    renderFixations();
    redraw();
  }

  /** A saccade or pursuit segment: kept by number (a QoS 1 duplicate replaces), the last few drawn. */
  function onMovement(kind, list, message, topic) {
    var number = num(message[kind]);
    var movement = {
      number: number, start_x: num(message.start_x), start_y: num(message.start_y),
      end_x: num(message.end_x), end_y: num(message.end_y), duration_ms: num(message.duration_ms),
      amplitude_deg: num(message.amplitude_deg), peak_velocity_deg_s: num(message.peak_velocity_deg_s),
      mean_velocity_deg_s: num(message.mean_velocity_deg_s)
    };
    if (number === null || movement.start_x === null || movement.start_y === null ||
        movement.end_x === null || movement.end_y === null) {
      console.warn("gazewire live: " + kind + " on " + topic + " without number/positions; ignored");
      return;
    }
    var index = list.findIndex(function (m) { return m.number === number; });
    if (index >= 0) list[index] = movement;
    else list.push(movement);
    list.sort(function (a, b) { return a.number - b.number; });
    while (list.length > FIXATIONS_KEPT) list.shift();
    renderMovements();
    redraw();
  }

  function onBlink(message, topic) {
    var number = num(message.blink);
    if (number === null) {
      console.warn("gazewire live: blink on " + topic + " without a number; ignored");
      return;
    }
    if (!view.blinks.seen[number]) {
      view.blinks.seen[number] = true;
      view.blinks.count += 1;
    }
    view.blinks.last_ms = num(message.duration_ms);
    renderMovements();
  }

  function shownMovements(list) {
    return list.slice(-view.fixationLimit);
  }

  function renderMovements() {
    var canvas = $("screen");
    canvas.setAttribute("data-saccades", String(shownMovements(view.saccades).length));
    canvas.setAttribute("data-pursuits", String(shownMovements(view.pursuits).length));
    var blinks = $("blink-count");
    blinks.setAttribute("data-value", String(view.blinks.count));
    blinks.textContent = formatNumber(view.blinks.count, 0) +
      (view.blinks.last_ms !== null ? " (last " + formatNumber(view.blinks.last_ms, 0) + " ms)" : "");
  }

  function trimFixations() {
    while (view.fixations.length > FIXATIONS_KEPT) view.fixations.shift();
  }

  function shownFixations() {
    return view.fixations.slice(-view.fixationLimit);
  }

  function alertKey(alert) {
    var details = isObject(alert.details) ? alert.details : {};
    return alert.type + (text(details.aoi) ? ":" + details.aoi : "");
  }

  function onAlert(message, topic) {
    var type = text(message.type), state = text(message.state);
    if (!type || (state !== "raised" && state !== "cleared")) {
      console.warn("gazewire live: alert on " + topic + " without type/state; ignored");
      return;
    }
    var alert = {
      type: type, state: state, severity: text(message.severity) || "warning", utc: text(message.utc),
      details: isObject(message.details) ? message.details : {}
    };
    var key = alertKey(alert);
    if (state === "raised") view.alerts[key] = alert;
    else delete view.alerts[key];
    var rect = rectOf(alert.details);
    if (type === "aoi_dwell" && text(alert.details.aoi) && rect) aoiEntry(alert.details.aoi).rect = rect;
    renderAlerts();
  }

  function onAoi(message, topic) {
    var name = text(message.aoi), event = text(message.event);
    if (!name || (event !== "enter" && event !== "exit")) {
      console.warn("gazewire live: aoi event on " + topic + " without aoi/event; ignored");
      return;
    }
    var entry = aoiEntry(name);
    entry.inside = event === "enter";
    if (event === "enter") entry.visits += 1;
    if (event === "exit" && num(message.dwell_ms) !== null) entry.dwell_ms = num(message.dwell_ms);
    var rect = rectOf(message) || rectOf(message.rect) || rectOf(message.details);
    if (rect) entry.rect = rect;
    renderAois();
    redraw();
  }

  // ------------------------------------------------------------------ sessions

  function resetSession() {
    view.subscribedSession = null;
    document.body.setAttribute("data-subscribed", "");
    view.status = null;
    view.gaze = null;
    view.trail = [];
    view.fixations = [];
    view.provisional = {};
    view.saccades = [];
    view.pursuits = [];
    view.blinks = { count: 0, last_ms: null, seen: {} };
    view.alerts = {};
    view.aois = {};
    liveTimes = [];
    batchTimes = [];
    rateStart = performance.now();
    var canvas = $("screen");
    ["data-gaze-x", "data-gaze-y", "data-gaze-seq"].forEach(function (name) { canvas.setAttribute(name, ""); });
    $("gaze-line").textContent = "";
    renderAgent();
    renderAlerts();
    renderAois();
    renderFixations();
    renderMovements();
    updateRates();
    redraw();
  }

  function subscribeSession(session) {
    var base = view.prefix + "/" + session + "/";
    var topics = {};
    topics[base + "gaze"] = { qos: 0 };
    topics[base + "gaze/batch"] = { qos: 0 };
    topics[base + "fixations"] = { qos: 1 };
    topics[base + "saccades"] = { qos: 1 };
    topics[base + "pursuits"] = { qos: 1 };
    topics[base + "blinks"] = { qos: 1 };
    topics[base + "alerts"] = { qos: 1 };
    topics[base + "aoi"] = { qos: 1 };
    sessionTopics = Object.keys(topics);
    view.subscribedSession = null;
    document.body.setAttribute("data-subscribed", "");
    var current = client;
    current.subscribe(topics, function (error) {
      if (current !== client) return;
      if (error) {
        console.warn("gazewire live: could not subscribe to " + session + ": " + error.message);
      } else if (view.selected === session) {
        view.subscribedSession = session; // the broker has confirmed: messages from now on arrive
        document.body.setAttribute("data-subscribed", session);
      }
    });
  }

  function selectSession(session) {
    if (!client || !view.sessions[session]) return;
    if (sessionTopics.length) client.unsubscribe(sessionTopics);
    view.selected = session;
    resetSession();
    subscribeSession(session);
    $("screen-title").textContent = "Session " + session;
    var entry = view.sessions[session];
    view.status = entry.status;
    var area = isObject(entry.status.display_area) ? entry.status.display_area : {};
    screen.setDisplayArea(num(area.width_mm), num(area.height_mm));
    mergeProcessorAois();
    renderSessions();
    renderAgent();
    redraw();
  }

  function renderSessions() {
    var list = $("sessions");
    var names = Object.keys(view.sessions).sort();
    $("sessions-empty").hidden = names.length > 0;
    while (list.firstChild) list.removeChild(list.firstChild);
    names.forEach(function (name) {
      var entry = view.sessions[name];
      var item = document.createElement("li");
      var button = document.createElement("button");
      button.type = "button";
      button.setAttribute("data-session", name);
      button.setAttribute("data-state", entry.state);
      button.setAttribute("aria-pressed", name === view.selected ? "true" : "false");
      var title = document.createElement("span");
      title.className = "session-name";
      title.textContent = name;
      var meta = document.createElement("span");
      meta.className = "session-meta";
      var state = document.createElement("span");
      state.className = "state";
      state.setAttribute("data-state", entry.state);
      state.textContent = STATE_TEXT[entry.state] || entry.state;
      meta.appendChild(state);
      if (entry.model) meta.appendChild(document.createTextNode(" \u00b7 " + entry.model));
      button.appendChild(title);
      button.appendChild(meta);
      button.addEventListener("click", function () { selectSession(name); });
      item.appendChild(button);
      list.appendChild(item);
    });
  }

  // ------------------------------------------------------------------ agent panel

  function renderAgent() {
    var status = view.status || {};
    var state = text(status.state) || "";
    var stateBox = $("agent-state");
    stateBox.setAttribute("data-state", state);
    stateBox.textContent = state ? STATE_TEXT[state] || state : "–";
    $("agent-reason").textContent = text(status.reason) || "–";
    $("agent-host").textContent = [text(status.host), text(status.agent_version) && "agent " + status.agent_version]
      .filter(Boolean).join(" \u00b7 ") || "–";
    var tracker = isObject(status.tracker) ? status.tracker : null;
    $("agent-tracker").textContent = tracker
      ? [text(tracker.model), text(tracker.serial), num(tracker.frequency_hz) !== null ? formatNumber(tracker.frequency_hz, 0) + " Hz" : null,
        text(tracker.source)].filter(Boolean).join(" \u00b7 ")
      : "–";
    var area = isObject(status.display_area) ? status.display_area : null;
    $("agent-display").textContent = area && num(area.width_mm) && num(area.height_mm)
      ? formatNumber(area.width_mm, 0) + " \u00d7 " + formatNumber(area.height_mm, 0) + " mm"
      : "unknown (drawn 16:9)";
    renderUpdated();
    var counters = $("counters");
    while (counters.firstChild) counters.removeChild(counters.firstChild);
    var values = isObject(status.counters) ? status.counters : {};
    Object.keys(values).forEach(function (key) {
      if (num(values[key]) === null) return;
      var dt = document.createElement("dt");
      dt.textContent = humanize(key);
      var dd = document.createElement("dd");
      dd.setAttribute("data-counter", key);
      dd.textContent = formatNumber(values[key], 0);
      counters.appendChild(dt);
      counters.appendChild(dd);
    });
    var warnings = $("warnings");
    while (warnings.firstChild) warnings.removeChild(warnings.firstChild);
    (Array.isArray(status.warnings) ? status.warnings : []).forEach(function (warning) {
      if (typeof warning !== "string") return;
      var li = document.createElement("li");
      li.textContent = warning;
      warnings.appendChild(li);
    });
  }

  function renderUpdated() {
    var status = view.status;
    var when = status ? timeOf(status.utc) : null;
    $("agent-updated").textContent = when ? clockText(when) + " (" + agoText(when, Date.now()) + ")" :
      status ? "no time (last will)" : "–";
  }

  function updateRates() {
    var now = performance.now();
    while (liveTimes.length && now - liveTimes[0] > RATE_WINDOW_MS) liveTimes.shift();
    while (batchTimes.length && now - batchTimes[0][0] > RATE_WINDOW_MS) batchTimes.shift();
    // per second over the last RATE_WINDOW_MS, or since the session was chosen if that is
    // more recent (at least 1 s), so the first seconds are not underestimated
    var span = Math.min(RATE_WINDOW_MS, Math.max(1000, now - rateStart)) / 1000;
    var samples = 0;
    batchTimes.forEach(function (b) { samples += b[1]; });
    view.rates.live = liveTimes.length / span;
    view.rates.samples = samples / span;
    view.rates.batches = batchTimes.length / span;
    [["rate-live", view.rates.live], ["rate-samples", view.rates.samples], ["rate-batches", view.rates.batches]]
      .forEach(function (pair) {
        var box = $(pair[0]);
        box.setAttribute("data-value", pair[1].toFixed(2));
        box.textContent = formatNumber(pair[1], pair[1] < 10 ? 1 : 0);
      });
  }

  // ------------------------------------------------------------------ alerts, AOIs, fixations

  function renderAlerts() {
    var box = $("alerts");
    while (box.firstChild) box.removeChild(box.firstChild);
    var keys = Object.keys(view.alerts);
    var order = { critical: 0, warning: 1, info: 2 };
    keys.sort(function (a, b) {
      return (order[view.alerts[a].severity] || 3) - (order[view.alerts[b].severity] || 3);
    });
    keys.forEach(function (key) {
      var alert = view.alerts[key];
      var item = document.createElement("div");
      item.className = "alert";
      item.setAttribute("data-type", alert.type);
      item.setAttribute("data-severity", alert.severity);
      var title = document.createElement("strong");
      title.textContent = (ALERT_TEXT[alert.type] || humanize(alert.type)) + " (" + alert.severity + ")";
      var since = document.createElement("span");
      since.textContent = "since " + clockText(timeOf(alert.utc));
      var details = document.createElement("span");
      details.className = "details";
      details.textContent = Object.keys(alert.details).map(function (name) {
        return humanize(name) + ": " + detailText(alert.details[name]);
      }).join(" \u00b7 ");
      item.appendChild(title);
      item.appendChild(since);
      item.appendChild(details);
      box.appendChild(item);
    });
    box.hidden = keys.length === 0;
    box.setAttribute("data-count", String(keys.length));
  }

  function renderAois() {
    var list = $("aois");
    while (list.firstChild) list.removeChild(list.firstChild);
    var names = Object.keys(view.aois).sort();
    $("aoi-empty").hidden = names.length > 0;
    names.forEach(function (name) {
      var aoi = view.aois[name];
      var li = document.createElement("li");
      li.setAttribute("data-aoi", name);
      li.setAttribute("data-inside", aoi.inside ? "true" : "false");
      li.textContent = name + (aoi.inside ? " \u2014 gaze inside" : "") +
        (aoi.dwell_ms !== null ? " \u00b7 last dwell " + formatNumber(aoi.dwell_ms, 0) + " ms" : "") +
        (aoi.rect ? "" : " (no rectangle known)");
      list.appendChild(li);
    });
  }

  function renderFixations() {
    var list = $("fixation-list");
    while (list.firstChild) list.removeChild(list.firstChild);
    var shown = shownFixations();
    shown.slice().reverse().forEach(function (f) {
      var li = document.createElement("li");
      li.value = f.fixation;
      li.textContent = formatNumber(f.duration_ms, 0) + " ms at " +
        (f.x !== null && f.y !== null ? "(" + f.x.toFixed(2) + ", " + f.y.toFixed(2) + ")" : "no position");
      list.appendChild(li);
    });
    var canvas = $("screen");
    canvas.setAttribute("data-fixations", String(shown.length));
    canvas.setAttribute("data-provisional", String(Object.keys(view.provisional).length));
  }

  // ------------------------------------------------------------------ drawing

  function redraw() {
    if (!screen) return;
    var stale = !view.gaze || performance.now() - view.gaze.receivedAt > STALE_MS;
    screen.request({
      gaze: view.gaze,
      stale: stale,
      trail: stale ? [] : view.trail,
      fixations: shownFixations(),
      saccades: shownMovements(view.saccades),
      pursuits: shownMovements(view.pursuits),
      provisional: Object.keys(view.provisional).map(function (n) { return view.provisional[n]; }),
      aois: Object.keys(view.aois).map(function (n) { return view.aois[n]; })
    });
  }

  function tick() {
    updateRates();
    renderUpdated();
    redraw();
    var canvas = $("screen");
    canvas.setAttribute("aria-label", view.gaze
      ? "Display area: gaze at " + Math.round(view.gaze.x * 100) + "% across, " + Math.round(view.gaze.y * 100) +
        "% down; " + shownFixations().length + " fixations shown"
      : "Display area: no gaze yet");
  }

  // ------------------------------------------------------------------ start

  function start() {
    ensureStylesheet();
    screen = new window.GazewireScreen.Screen($("screen"), $("screen-box"));
    var saved = loadSaved();
    $("url").value = text(saved.url) || defaultUrl();
    $("username").value = text(saved.username) || "";
    $("prefix").value = text(saved.prefix) || "lab";
    $("login-form").addEventListener("submit", connect);
    $("disconnect").addEventListener("click", logout);
    $("fixation-count").addEventListener("change", function (event) {
      view.fixationLimit = Number(event.target.value) || 10;
      renderFixations();
      renderMovements();
      redraw();
    });
    view.fixationLimit = Number($("fixation-count").value) || 10;
    resetSession();
    setInterval(tick, 1000);
    (saved.username ? $("password") : $("username")).focus();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
