/* Progressive enhancement for Jifen pages; every page works without it.
   - forms: disable the submit button and show progress while a post is in flight (the pressed
     button's name=value still goes with the form)
   - [data-scanner]: scan a QR code with the camera (BarcodeDetector, else vendored jsQR)
   - [data-poll]: refresh a live panel (rotating check-in code, arrival count) */
(function () {
  "use strict";

  // Disabling a button during the submit event drops it from the form data, so the pressed
  // button's name=value (e.g. action=send) is carried by a hidden copy made first.
  function keepSubmitter(form, submitter) {
    if (!submitter || !submitter.name || submitter.form !== form) { return; }
    var copy = document.createElement("input");
    copy.type = "hidden"; copy.name = submitter.name; copy.value = submitter.value;
    copy.setAttribute("data-submitter", "");
    form.appendChild(copy);
  }
  function busy(form, submitter) {
    var msg = document.body.getAttribute("data-working") || "…";
    keepSubmitter(form, submitter);
    form.querySelectorAll("button[type=submit], button:not([type])").forEach(function (b) {
      b.disabled = true; b.setAttribute("aria-busy", "true");
    });
    var bar = document.createElement("div");
    bar.className = "busy-bar"; bar.innerHTML = '<div class="progress"></div>';
    var live = document.createElement("p");
    live.className = "sr-only"; live.setAttribute("role", "status"); live.textContent = msg;
    document.body.appendChild(bar); document.body.appendChild(live);
    var note = form.querySelector("[data-progress]");
    if (note) { note.hidden = false; }
  }
  // The confirmation names the whole price: the cost of one times the quantity asked for.
  function confirmFor(form) {
    var text = form.getAttribute("data-confirm");
    var each = form.getAttribute("data-confirm-each");
    var steps = parseInt(form.getAttribute("data-cost-steps") || "", 10);
    var qty = form.elements.quantity ? parseInt(form.elements.quantity.value, 10) : 1;
    if (!each || isNaN(steps) || isNaN(qty) || qty < 1) { return text; }
    var scale = parseInt(form.getAttribute("data-scale") || "1", 10) || 1;
    var total = String(Math.round(steps * qty * 100 / scale) / 100);
    return each.replace("{n}", total);
  }
  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    var confirmText = confirmFor(form);
    if (confirmText && !window.confirm(confirmText)) { ev.preventDefault(); return; }
    busy(form, ev.submitter || form.jifenPressed || null);
  });
  document.addEventListener("click", function (ev) {  // browsers without SubmitEvent.submitter
    var b = ev.target.closest ? ev.target.closest("button, input[type=submit]") : null;
    if (b && b.form) { b.form.jifenPressed = b; }
  });
  window.addEventListener("pageshow", function () {  // back button: re-enable the buttons
    document.querySelectorAll("button[aria-busy]").forEach(function (b) {
      b.disabled = false; b.removeAttribute("aria-busy");
    });
    document.querySelectorAll(".busy-bar").forEach(function (e) { e.remove(); });
    document.querySelectorAll("input[data-submitter]").forEach(function (e) { e.remove(); });
  });

  // ---- QR scanning -------------------------------------------------------------------------
  var ACCEPT = /^\/(c|h|v)\/[A-Za-z0-9._~-]+$/;
  function targetOf(text, accept) {
    try {
      var u = new URL(text.trim(), window.location.href);
      if (ACCEPT.test(u.pathname) && (!accept || u.pathname.charAt(1) === accept)) {
        return u.pathname;
      }
    } catch (e) { /* not a URL */ }
    return null;
  }
  function loadJsQR(cb) {
    if (window.jsQR) { cb(); return; }
    var s = document.createElement("script");
    s.src = "/static/vendor/jsQR.js"; s.onload = cb; document.head.appendChild(s);
  }
  function setupScanner(box) {
    var video = box.querySelector("video");
    var status = box.querySelector(".scan-status");
    var startBtn = box.querySelector("[data-scan-start]");
    var stopBtn = box.querySelector("[data-scan-stop]");
    var accept = box.getAttribute("data-accept") || "";
    var stream = null, timer = null, detector = null;
    var canvas = document.createElement("canvas");
    var ctx = canvas.getContext("2d", { willReadFrequently: true });

    function stop() {
      if (timer) { clearTimeout(timer); timer = null; }
      if (stream) { stream.getTracks().forEach(function (t) { t.stop(); }); stream = null; }
      video.hidden = true; stopBtn.hidden = true; startBtn.hidden = false;
    }
    function found(text) {
      var path = targetOf(text, accept);
      if (!path) { return false; }
      status.textContent = box.getAttribute("data-found");
      stop();
      window.location.assign(path);
      return true;
    }
    function tick() {
      if (!stream) { return; }
      if (video.readyState >= 2) {
        if (detector) {
          detector.detect(video).then(function (codes) {
            for (var i = 0; i < codes.length; i++) { if (found(codes[i].rawValue)) { return; } }
            timer = setTimeout(tick, 200);
          }, function () { timer = setTimeout(tick, 400); });
          return;
        }
        var w = video.videoWidth, h = video.videoHeight, scale = Math.min(1, 640 / Math.max(w, h));
        canvas.width = Math.round(w * scale); canvas.height = Math.round(h * scale);
        ctx.drawImage(video, 0, 0, canvas.width, canvas.height);
        var img = ctx.getImageData(0, 0, canvas.width, canvas.height);
        var code = window.jsQR(img.data, img.width, img.height, { inversionAttempts: "dontInvert" });
        if (code && found(code.data)) { return; }
      }
      timer = setTimeout(tick, 250);
    }
    function start() {
      if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
        status.textContent = box.getAttribute("data-nocam"); return;
      }
      navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false })
        .then(function (s) {
          stream = s; video.srcObject = s; video.hidden = false;
          startBtn.hidden = true; stopBtn.hidden = false;
          return video.play();
        })
        .then(function () {
          var useNative = "BarcodeDetector" in window;
          var go = function () { timer = setTimeout(tick, 100); };
          if (useNative) {
            window.BarcodeDetector.getSupportedFormats().then(function (f) {
              if (f.indexOf("qr_code") >= 0) {
                detector = new window.BarcodeDetector({ formats: ["qr_code"] }); go();
              } else { loadJsQR(go); }
            }, function () { loadJsQR(go); });
          } else { loadJsQR(go); }
        })
        .catch(function () { stop(); status.textContent = box.getAttribute("data-nocam"); });
    }
    startBtn.addEventListener("click", start);
    stopBtn.addEventListener("click", stop);
    window.addEventListener("pagehide", stop);
  }
  document.querySelectorAll("[data-scanner]").forEach(setupScanner);

  // ---- live panels (rotating QR, counts) ---------------------------------------------------
  function setupPoll(el) {
    var url = el.getAttribute("data-poll");
    var every = Math.max(1000, parseInt(el.getAttribute("data-every") || "5000", 10));
    function apply(data) {
      Object.keys(data).forEach(function (k) {
        el.querySelectorAll('[data-field="' + k + '"]').forEach(function (node) {
          if (node.getAttribute("data-html") !== null) { node.innerHTML = data[k]; }
          else { node.textContent = data[k]; }
        });
      });
      if (data.every_ms) { every = Math.max(1000, data.every_ms); }
    }
    function poll() {
      fetch(url, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (d) { if (d) { apply(d); } })
        .catch(function () { /* keep the last code; try again */ })
        .then(function () { setTimeout(poll, every); });
    }
    setTimeout(poll, every);
  }
  document.querySelectorAll("[data-poll]").forEach(setupPoll);

  // a chosen photo is named under its button (the browser's own picker text is hidden)
  document.querySelectorAll("input[data-photo]").forEach(function (input) {
    var out = input.parentNode.querySelector("[data-photo-name]");
    input.addEventListener("change", function () {
      var f = input.files && input.files[0];
      if (out) { out.textContent = f ? f.name : input.getAttribute("data-none"); }
    });
  });

  var fs = document.querySelector("[data-fullscreen]");
  if (fs && document.documentElement.requestFullscreen) {
    fs.hidden = false;
    fs.addEventListener("click", function () {
      document.documentElement.requestFullscreen().catch(function () {});
    });
  }
})();

/* A check-in page confirms itself: with the phone's location first where the activity has a
   geofence. Without scripts, the person taps the button. */
(function () {
  "use strict";
  var form = document.querySelector("form[data-autosubmit]");
  if (!form) { return; }
  function send() { if (form.requestSubmit) { form.requestSubmit(); } else { form.submit(); } }
  if (form.hasAttribute("data-geo") && navigator.geolocation) {
    navigator.geolocation.getCurrentPosition(function (pos) {
      form.elements.lat.value = pos.coords.latitude;
      form.elements.lon.value = pos.coords.longitude;
      form.elements.accuracy.value = pos.coords.accuracy;
      send();
    }, send, { enableHighAccuracy: true, timeout: 8000, maximumAge: 30000 });
  } else {
    send();
  }
})();
