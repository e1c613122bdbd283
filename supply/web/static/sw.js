// The driver's pages offline: network first, the last copy when there is no network.
var CACHE = "coop-driver-v1";
self.addEventListener("install", function () { self.skipWaiting(); });
self.addEventListener("activate", function (ev) { ev.waitUntil(self.clients.claim()); });
// Signing out: the page asks to keep no more copies (until the next page is opened) and to drop them.
var signedOut = false;
self.addEventListener("message", function (ev) {
  if (ev.data !== "signout") return;
  signedOut = true;
  ev.waitUntil(caches.delete(CACHE).then(function () { if (ev.ports[0]) ev.ports[0].postMessage("done"); }));
});
self.addEventListener("fetch", function (ev) {
  var req = ev.request;
  if (req.method !== "GET" || new URL(req.url).origin !== self.location.origin) return;
  if (req.mode === "navigate") signedOut = false;
  ev.respondWith(fetch(req).then(function (res) {
    if (res.ok && !signedOut) { var copy = res.clone(); caches.open(CACHE).then(function (c) { c.put(req, copy); }); }
    return res;
  }).catch(function () {
    return caches.match(req, { ignoreSearch: true }).then(function (hit) {
      return hit || new Response("offline", { status: 503, headers: { "Content-Type": "text/plain" } });
    });
  }));
});
