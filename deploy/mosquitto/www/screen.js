/* gazewire live page: the display-area canvas.
 *
 * Draws in normalised display coordinates, as the wire carries them: (0, 0)
 * top-left, (1, 1) bottom-right. The canvas keeps the display's aspect ratio
 * (status display_area width_mm / height_mm) and fits the space it has.
 * Classic script (Mosquitto serves no Content-Type, so no ES modules).
 */
(function () {
  "use strict";

  var COLORS = {
    background: "#20252b",
    grid: "rgba(255, 255, 255, 0.08)",
    border: "rgba(255, 255, 255, 0.35)",
    gaze: "#ff3b30",
    trail: "255, 59, 48",
    fixation: "64, 156, 255",
    saccade: "255, 159, 10",
    pursuit: "191, 90, 242",
    provisional: "#ffd60a",
    aoi: "48, 209, 88",
    text: "#f2f4f7"
  };

  function clamp(value, low, high) {
    return Math.min(high, Math.max(low, value));
  }

  /** Radius in CSS pixels of a fixation circle: grows with the square root of its duration. */
  function fixationRadius(durationMs, scale) {
    var ms = Number.isFinite(durationMs) && durationMs > 0 ? durationMs : 0;
    return clamp(5 + 1.1 * Math.sqrt(ms), 6, 70) * scale;
  }

  /** A line from (x0, y0) to (x1, y1) with an arrowhead at the end (CSS pixels). */
  function arrow(ctx, x0, y0, x1, y1, head) {
    var angle = Math.atan2(y1 - y0, x1 - x0);
    ctx.beginPath();
    ctx.moveTo(x0, y0);
    ctx.lineTo(x1, y1);
    ctx.stroke();
    if (Math.hypot(x1 - x0, y1 - y0) < head) return;
    ctx.setLineDash([]);
    ctx.beginPath();
    ctx.moveTo(x1, y1);
    ctx.lineTo(x1 - head * Math.cos(angle - 0.45), y1 - head * Math.sin(angle - 0.45));
    ctx.lineTo(x1 - head * Math.cos(angle + 0.45), y1 - head * Math.sin(angle + 0.45));
    ctx.closePath();
    ctx.fill();
  }

  /** Saccades: solid orange arrows. Smooth pursuit: dashed purple arrows with a dot where it
   * began. Fixations are circles: the three never look alike. Older ones are fainter. */
  function drawMovements(ctx, list, kind, w, h, scale) {
    list.forEach(function (m, index) {
      var age = list.length - 1 - index; // 0: newest
      var alpha = clamp(0.9 - age * 0.07, 0.25, 0.9);
      var color = "rgba(" + COLORS[kind] + "," + alpha + ")";
      var x0 = clamp(m.start_x, 0, 1) * w, y0 = clamp(m.start_y, 0, 1) * h;
      var x1 = clamp(m.end_x, 0, 1) * w, y1 = clamp(m.end_y, 0, 1) * h;
      ctx.save();
      ctx.strokeStyle = color;
      ctx.fillStyle = color;
      ctx.lineCap = "round";
      if (kind === "pursuit") {
        ctx.lineWidth = 4 * scale;
        ctx.setLineDash([8 * scale, 6 * scale]);
        ctx.beginPath();
        ctx.arc(x0, y0, 4 * scale, 0, 2 * Math.PI);
        ctx.fill();
      } else {
        ctx.lineWidth = 2.5 * scale;
      }
      arrow(ctx, x0, y0, x1, y1, 12 * scale);
      ctx.restore();
    });
  }

  function Screen(canvas, box) {
    this.canvas = canvas;
    this.box = box;
    this.context = canvas.getContext("2d");
    this.aspect = 16 / 9;
    this.cssWidth = 0;
    this.cssHeight = 0;
    this.model = null;
    this.pending = false;
    var self = this;
    if (window.ResizeObserver) {
      new ResizeObserver(function () { self.resize(); }).observe(box);
    }
    window.addEventListener("resize", function () { self.resize(); });
    this.resize();
  }

  /** Set the display's shape from its size in mm; unknown sizes keep 16:9. */
  Screen.prototype.setDisplayArea = function (widthMm, heightMm) {
    var aspect = widthMm > 0 && heightMm > 0 ? widthMm / heightMm : 16 / 9;
    if (!Number.isFinite(aspect) || aspect < 0.2 || aspect > 10) aspect = 16 / 9;
    if (Math.abs(aspect - this.aspect) > 1e-6) {
      this.aspect = aspect;
      this.resize();
    }
    this.canvas.setAttribute("data-aspect", aspect.toFixed(4));
  };

  Screen.prototype.resize = function () {
    var width = this.box.clientWidth || 640;
    var top = this.box.getBoundingClientRect().top + window.scrollY;
    var maxHeight = Math.max(220, window.innerHeight - top - 70);
    var cssWidth = Math.floor(Math.min(width, maxHeight * this.aspect));
    var cssHeight = Math.floor(cssWidth / this.aspect);
    var ratio = window.devicePixelRatio || 1;
    if (cssWidth === this.cssWidth && cssHeight === this.cssHeight && this.ratio === ratio) return;
    this.cssWidth = cssWidth;
    this.cssHeight = cssHeight;
    this.ratio = ratio;
    this.canvas.style.width = cssWidth + "px";
    this.canvas.style.height = cssHeight + "px";
    this.canvas.width = Math.round(cssWidth * ratio);
    this.canvas.height = Math.round(cssHeight * ratio);
    this.request(this.model);
  };

  /** Ask for a redraw with this model (drawn once per animation frame at most). */
  Screen.prototype.request = function (model) {
    this.model = model;
    if (this.pending) return;
    this.pending = true;
    var self = this;
    var run = function () {
      self.pending = false;
      self.draw(self.model);
    };
    if (document.hidden || !window.requestAnimationFrame) {
      setTimeout(run, 50);
    } else {
      window.requestAnimationFrame(run);
    }
  };

  Screen.prototype.draw = function (model) {
    var ctx = this.context;
    var w = this.cssWidth;
    var h = this.cssHeight;
    var scale = clamp(w / 900, 0.5, 2);
    ctx.setTransform(this.ratio, 0, 0, this.ratio, 0, 0);
    ctx.clearRect(0, 0, w, h);
    ctx.fillStyle = COLORS.background;
    ctx.fillRect(0, 0, w, h);
    // thirds, to judge positions by eye
    ctx.strokeStyle = COLORS.grid;
    ctx.lineWidth = 1;
    ctx.beginPath();
    for (var i = 1; i < 3; i++) {
      ctx.moveTo(Math.round(w * i / 3) + 0.5, 0);
      ctx.lineTo(Math.round(w * i / 3) + 0.5, h);
      ctx.moveTo(0, Math.round(h * i / 3) + 0.5);
      ctx.lineTo(w, Math.round(h * i / 3) + 0.5);
    }
    ctx.stroke();
    ctx.strokeStyle = COLORS.border;
    ctx.strokeRect(0.5, 0.5, w - 1, h - 1);
    if (!model) return;

    ctx.font = Math.round(12 * scale + 2) + "px system-ui, sans-serif";
    ctx.textBaseline = "top";

    (model.aois || []).forEach(function (aoi) {
      if (!aoi.rect) return;
      var r = aoi.rect;
      var x = r.x_min * w, y = r.y_min * h, rw = (r.x_max - r.x_min) * w, rh = (r.y_max - r.y_min) * h;
      ctx.fillStyle = "rgba(" + COLORS.aoi + "," + (aoi.inside ? 0.28 : 0.1) + ")";
      ctx.fillRect(x, y, rw, rh);
      ctx.strokeStyle = "rgba(" + COLORS.aoi + ", 0.9)";
      ctx.lineWidth = aoi.inside ? 3 : 1.5;
      ctx.strokeRect(x, y, rw, rh);
      ctx.fillStyle = COLORS.text;
      ctx.fillText(aoi.name, x + 4, y + 3);
    });

    drawMovements(ctx, model.pursuits || [], "pursuit", w, h, scale);
    drawMovements(ctx, model.saccades || [], "saccade", w, h, scale);

    var fixations = model.fixations || [];
    fixations.forEach(function (fixation, index) {
      if (!Number.isFinite(fixation.x) || !Number.isFinite(fixation.y)) return;
      var age = fixations.length - 1 - index; // 0: newest
      var alpha = clamp(0.55 - age * 0.04, 0.12, 0.55);
      var x = clamp(fixation.x, 0, 1) * w, y = clamp(fixation.y, 0, 1) * h;
      var radius = fixationRadius(fixation.duration_ms, scale);
      ctx.beginPath();
      ctx.arc(x, y, radius, 0, 2 * Math.PI);
      ctx.fillStyle = "rgba(" + COLORS.fixation + "," + alpha + ")";
      ctx.fill();
      ctx.lineWidth = 2;
      ctx.strokeStyle = "rgba(" + COLORS.fixation + "," + Math.min(1, alpha + 0.35) + ")";
      ctx.stroke();
      ctx.fillStyle = COLORS.text;
      ctx.textAlign = "center";
      ctx.textBaseline = "middle";
      ctx.fillText(String(fixation.fixation), x, y);
      ctx.textAlign = "start";
      ctx.textBaseline = "top";
    });

    (model.provisional || []).forEach(function (fixation) {
      if (!Number.isFinite(fixation.x) || !Number.isFinite(fixation.y)) return;
      var x = clamp(fixation.x, 0, 1) * w, y = clamp(fixation.y, 0, 1) * h;
      ctx.save();
      ctx.setLineDash([5, 4]);
      ctx.lineWidth = 2;
      ctx.strokeStyle = COLORS.provisional;
      ctx.beginPath();
      ctx.arc(x, y, fixationRadius(fixation.duration_ms, scale), 0, 2 * Math.PI);
      ctx.stroke();
      ctx.restore();
    });

    var trail = model.trail || [];
    for (var t = 1; t < trail.length; t++) {
      ctx.strokeStyle = "rgba(" + COLORS.trail + "," + (0.5 * t / trail.length) + ")";
      ctx.lineWidth = 2;
      ctx.beginPath();
      ctx.moveTo(clamp(trail[t - 1].x, 0, 1) * w, clamp(trail[t - 1].y, 0, 1) * h);
      ctx.lineTo(clamp(trail[t].x, 0, 1) * w, clamp(trail[t].y, 0, 1) * h);
      ctx.stroke();
    }

    var gaze = model.gaze;
    if (gaze && Number.isFinite(gaze.x) && Number.isFinite(gaze.y)) {
      var off = gaze.x < 0 || gaze.x > 1 || gaze.y < 0 || gaze.y > 1;
      var gx = clamp(gaze.x, 0, 1) * w, gy = clamp(gaze.y, 0, 1) * h;
      ctx.globalAlpha = model.stale ? 0.35 : 1;
      ctx.beginPath();
      ctx.arc(gx, gy, 9 * scale, 0, 2 * Math.PI);
      ctx.fillStyle = off ? "rgba(0, 0, 0, 0)" : COLORS.gaze;
      ctx.fill();
      ctx.lineWidth = 3;
      ctx.strokeStyle = off ? COLORS.gaze : "#ffffff";
      ctx.stroke();
      ctx.globalAlpha = 1;
      if (off || model.stale) {
        ctx.fillStyle = COLORS.text;
        ctx.fillText(model.stale ? "no live gaze" : "gaze off the display", 8, 8);
      }
    }
  };

  window.GazewireScreen = { Screen: Screen, fixationRadius: fixationRadius };
})();
