/* LeadHub tracking snippet: <script src="https://HOST/t.js" data-key="KEY" async></script>
   First-party visitor id (cookie lh_vid, localStorage fallback), page views with time on page, sent in
   batches with sendBeacon. Nothing is sent when the browser asks not to be tracked (Do Not Track,
   Global Privacy Control) or while the site withholds consent (window.leadhub = {consent: false}, or
   data-require-consent, until leadhub.consent(true)). API: leadhub.identify(email),
   leadhub.visitorId(), leadhub.consent(bool). No dependencies. */
(function (w, d) {
  "use strict";
  var prior = w.leadhub || {};
  if (prior.loaded) return;
  var script = d.currentScript || d.querySelector('script[data-key][src*="/t.js"]');
  if (!script) return;
  var key = script.getAttribute("data-key") || "";
  var base = script.src.replace(/\/t\.js(\?.*)?$/, "");
  var nav = w.navigator;
  var declined = nav.doNotTrack === "1" || w.doNotTrack === "1" || nav.msDoNotTrack === "1" ||
    nav.globalPrivacyControl === true;
  var consent = prior.consent === undefined ? !script.hasAttribute("data-require-consent") : !!prior.consent;
  var YEAR = 31536000, VID = "lh_vid", REF = "lh_ref";
  var queue = [], timer = 0, vid = null, current = null, lastUrl = d.referrer;

  function cookie(name) {
    var m = d.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
    return m ? decodeURIComponent(m[1]) : null;
  }
  function setCookie(name, value, seconds) {
    d.cookie = name + "=" + encodeURIComponent(value) + "; path=/; max-age=" + seconds + "; SameSite=Lax" +
      (location.protocol === "https:" ? "; Secure" : "");
  }
  function store(name, value) {
    try { if (value === null) w.localStorage.removeItem(name); else w.localStorage.setItem(name, value); }
    catch (e) { /* storage blocked: the cookie alone */ }
  }
  function stored(name) {
    try { return w.localStorage.getItem(name); } catch (e) { return null; }
  }
  function randomId() {
    var bytes = new Uint8Array(16), s = "", chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    (w.crypto || w.msCrypto).getRandomValues(bytes);
    for (var i = 0; i < bytes.length; i++) s += chars[bytes[i] & 63];
    return s;
  }
  function active() { return consent && !declined && !!key; }
  function visitor() {
    if (!active()) return null;
    if (!vid) {
      vid = cookie(VID) || stored(VID);
      if (!vid || !/^[A-Za-z0-9_-]{8,64}$/.test(vid)) vid = randomId();
      setCookie(VID, vid, 2 * YEAR);
      store(VID, vid);
    }
    return vid;
  }
  function referral() {
    var m = location.search.match(/[?&]ref=([^&#]*)/);
    var code = m ? decodeURIComponent(m[1].replace(/\+/g, " ")) : "";
    if (/^[A-Za-z0-9][A-Za-z0-9_-]{1,39}$/.test(code)) {
      setCookie(REF, code.toLowerCase(), 30 * 86400);
      return code.toLowerCase();
    }
    return cookie(REF) || "";
  }
  function post(path, body) {
    var url = base + "/t/" + encodeURIComponent(key) + path, data = JSON.stringify(body);
    if (nav.sendBeacon && path === "/collect") {
      try { if (nav.sendBeacon(url, data)) return Promise.resolve(); } catch (e) { /* fall through */ }
    }
    if (!w.fetch) return Promise.resolve();
    return w.fetch(url, { method: "POST", body: data, keepalive: true, mode: "cors", credentials: "omit",
      headers: { "Content-Type": "text/plain" } }).then(function (r) {
      if (!r.ok && r.status !== 204) throw new Error("LeadHub: " + path + " answered " + r.status);
    });
  }
  function flush() {
    clearTimeout(timer);
    timer = 0;
    if (!queue.length || !active()) { queue = []; return; }
    while (queue.length) {
      post("/collect", { vid: visitor(), ref: referral(), sent: Date.now(), events: queue.splice(0, 20) });
    }
  }
  function push(event) {
    if (!active()) return;
    queue.push(event);
    if (queue.length >= 20) flush();
    else if (!timer) timer = setTimeout(flush, 2000);
  }
  function leave() {
    if (!current) return;
    if (current.shownAt) { current.visible += Date.now() - current.shownAt; current.shownAt = 0; }
    push({ type: "leave", id: current.id, ms: current.visible });
  }
  function pageView() {
    if (!active()) return;
    if (current) leave();
    current = { id: randomId(), visible: 0, shownAt: d.visibilityState === "hidden" ? 0 : Date.now() };
    push({ type: "pv", id: current.id, url: location.href, title: d.title.slice(0, 300), referrer: lastUrl,
      ts: Date.now() });
    lastUrl = location.href;
  }
  var api = {
    loaded: true,
    visitorId: visitor,
    consent: function (granted) {
      consent = !!granted;
      if (!consent) {
        queue = [];
        vid = null;
        setCookie(VID, "", 0);
        store(VID, null);
      } else if (!current) {
        pageView();
      }
    },
    identify: function (email) {
      if (!active() || !email) return Promise.resolve(false);
      clearTimeout(timer);
      timer = 0;
      var pending = queue.splice(0, 50);
      flush();
      return post("/identify", { vid: visitor(), email: String(email), ref: referral(), sent: Date.now(),
        events: pending }).then(function () { return true; });
    },
  };
  w.leadhub = api;
  d.addEventListener("visibilitychange", function () {
    if (!current) return;
    if (d.visibilityState === "hidden") { leave(); flush(); } else { current.shownAt = Date.now(); }
  });
  w.addEventListener("pagehide", function () { leave(); flush(); });
  // Single-page sites: a pushState or back/forward navigation is a new page view.
  var pushState = w.history && w.history.pushState;
  if (pushState) {
    w.history.pushState = function () {
      var result = pushState.apply(this, arguments);
      pageView();
      return result;
    };
    w.addEventListener("popstate", pageView);
  }
  pageView();
  var queued = prior.q || [];
  for (var i = 0; i < queued.length; i++) {
    var call = queued[i];
    if (call && typeof api[call[0]] === "function") api[call[0]].apply(api, call.slice(1));
  }
})(window, document);
