// The driver's page: marks go to a queue kept on the phone (localStorage) and are sent when the
// network allows. Each mark carries an idempotency key, so a mark sent twice is applied once.
(function () {
  "use strict";
  var QUEUE = "coop-marks";
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  var net = document.getElementById("net");

  function load() { try { return JSON.parse(localStorage.getItem(QUEUE) || "[]"); } catch (e) { return []; } }
  function save(q) { localStorage.setItem(QUEUE, JSON.stringify(q)); }
  function key() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    var b = new Uint8Array(16); crypto.getRandomValues(b);
    return Array.prototype.map.call(b, function (x) { return ("0" + x.toString(16)).slice(-2); }).join("");
  }
  function show(stopId, state, text) {
    var form = document.querySelector('form.mark[data-stop-id="' + stopId + '"]');
    if (!form) return;
    var p = form.querySelector(".state");
    if (!p) return;
    p.className = "state " + state;
    p.textContent = (state === "done" ? "✔ " : "") + (text || p.dataset[state] || "");
    var disable = state === "done" || state === "queued";
    form.querySelectorAll("input,button").forEach(function (el) { if (el.type !== "hidden") el.disabled = disable; });
    if (state === "done") form.closest(".stop").classList.add("collected");
  }
  function status() {
    var q = load();
    var offline = !navigator.onLine;
    net.hidden = !offline && q.length === 0;
    net.textContent = offline ? net.dataset.offline : (q.length ? q.length + " " + net.dataset.pending : "");
  }
  var sending = false;
  function flush() {
    status();
    if (sending || !navigator.onLine) return;
    var q = load();
    if (!q.length) return;
    sending = true;
    var mark = q[0];
    fetch(mark.url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify(mark.body)
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (body) { return { status: r.status, body: body }; });
    }).then(function (res) {
      var rest = load().filter(function (m) { return m.body.idempotency_key !== mark.body.idempotency_key; });
      if (res.status === 200 || (res.body.error && res.body.error.code === "already_collected")) {
        save(rest); show(mark.stop, "done");
      } else if (res.status > 400 && res.status < 500 && res.status !== 401 && res.status !== 408 && res.status !== 429) {
        // Refused for what it says (403, 404, 409, 422): it will never be applied. 400 (the page's CSRF
        // token is stale after signing in again) and 401 keep it queued for the next page.
        save(rest); show(mark.stop, "error", (res.body.error && res.body.error.message) || "");
      }
      sending = false;
      if (res.status < 500 && res.status !== 400 && res.status !== 401) flush(); else status();
    }).catch(function () { sending = false; status(); });
  }
  document.querySelectorAll("form.mark").forEach(function (form) {
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var quantities = {}, reason = form.querySelector('input[name="reason"]').value;
      form.querySelectorAll('input[name^="q:"]').forEach(function (i) { quantities[i.name.slice(2)] = parseInt(i.value || "0", 10); });
      var rejects = {};
      form.querySelectorAll('input[name^="r:"]').forEach(function (i) {
        var n = parseInt(i.value || "0", 10), sku = i.name.slice(2);
        if (n > 0) rejects[sku] = { quantity: n, reason: form.querySelector('select[name="rr:' + sku + '"]').value };
      });
      var q = load();
      q.push({ url: form.action, stop: form.dataset.stopId,
               body: { idempotency_key: key(), quantities: quantities, rejects: rejects, reason: reason } });
      save(q); show(form.dataset.stopId, "queued"); flush();
    });
  });
  load().forEach(function (m) { show(m.stop, "queued"); });
  // Signing out leaves no copy of the route on the phone (unless marks still wait to be sent). The
  // copy is deleted before the form is sent, after the service worker has been told to keep no more
  // (a copy it or this page was still writing would otherwise come back after the deletion).
  var signingOut = false;
  var signout = document.querySelector("form.signout");
  if (signout && window.caches) signout.addEventListener("submit", function (ev) {
    if (load().length) return;
    ev.preventDefault();
    signingOut = true;
    var worker = navigator.serviceWorker && navigator.serviceWorker.controller;
    var told = !worker ? Promise.resolve() : new Promise(function (resolve) {
      var channel = new MessageChannel();
      channel.port1.onmessage = resolve;
      worker.postMessage("signout", [channel.port2]);
      setTimeout(resolve, 3000);
    });
    var send = function () { signout.submit(); };
    told.then(function () { return caches.delete("coop-driver-v1"); }).then(send, send);
  });
  window.addEventListener("online", flush);
  window.addEventListener("offline", status);
  setInterval(flush, 5000);
  flush();
  // Where the truck is, on the driver's request: a re-plan of the day starts it there. Not queued
  // offline (a position is news only while it is fresh).
  var where = document.querySelector("form.position");
  if (where && navigator.geolocation) {
    where.hidden = false;
    var said = where.querySelector(".state");
    var tell = function (state, text) { said.className = "state " + state; said.textContent = text || said.dataset[state] || ""; };
    where.addEventListener("submit", function (ev) {
      ev.preventDefault();
      if (!navigator.onLine) { tell("error", said.dataset.offline); return; }
      tell("queued", said.dataset.asking);
      navigator.geolocation.getCurrentPosition(function (pos) {
        fetch(where.action, {
          method: "POST", credentials: "same-origin",
          headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": csrf },
          body: JSON.stringify({ lat: pos.coords.latitude, lon: pos.coords.longitude,
                                 accuracy_m: Math.min(pos.coords.accuracy || 0, 100000),
                                 reported_at: new Date(pos.timestamp).toISOString() })
        }).then(function (r) {
          return r.json().catch(function () { return {}; }).then(function (body) {
            if (r.status === 200) {
              tell("done", "✔ " + said.dataset.done + " " + new Date(body.reported_at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }));
            } else {
              tell("error", (body.error && body.error.message) || said.dataset.error);
            }
          });
        }).catch(function () { tell("error", said.dataset.offline); });
      }, function () { tell("error", said.dataset.denied); }, { enableHighAccuracy: true, timeout: 20000, maximumAge: 30000 });
    });
  }
  var sw = document.querySelector('meta[name="sw"]');
  if (sw && "serviceWorker" in navigator) {
    navigator.serviceWorker.register(sw.content, { scope: sw.content.replace(/sw\.js$/, "") }).then(function () {
      return navigator.serviceWorker.ready;
    }).then(function () {
      if (signingOut) return;
      // The route and its assets, kept for when the network is gone.
      var assets = [location.pathname];
      document.querySelectorAll('link[rel="stylesheet"],script[src]').forEach(function (el) { assets.push(el.href || el.src); });
      return caches.open("coop-driver-v1").then(function (c) { return c.addAll(assets); });
    }).then(function () { document.documentElement.dataset.offlineReady = "1"; }).catch(function () {});
  }
})();
