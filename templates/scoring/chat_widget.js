/* LeadHub qualification chat {{ key|escapejs }}: a chat bubble and panel that ask the flow's questions one
   at a time. No dependencies; drawn in its own shadow root so the page's styles and the chat's never mix.
   Everything a visitor or the server says is shown with textContent, never parsed as HTML. */
(function () {
  "use strict";
  var KEY = "{{ key|escapejs }}";
  var BASE = "{{ base|escapejs }}";
  var STYLESHEET = "{{ stylesheet|escapejs }}";
{% verbatim %}
  if (!window.fetch || !document.body || !document.body.attachShadow) { return; }
  var flag = "lhChat_" + KEY.replace(/[^A-Za-z0-9_]/g, "_");
  if (window[flag]) { return; }
  window[flag] = true;

  var endpoint = BASE + "embed/chat/" + encodeURIComponent(KEY) + "/";
  var STORE = "lh_chat:" + KEY;
  var spec = null, state = null, busy = false, pending = null, open = false;

  function stored(name) {
    try { return window.sessionStorage.getItem(name); } catch (e) { return null; }
  }
  function store(name, value) {
    try {
      if (value === null) { window.sessionStorage.removeItem(name); } else { window.sessionStorage.setItem(name, value); }
    } catch (e) { /* storage blocked: the conversation lasts as long as the page */ }
  }
  function cookie(name) {
    var match = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
    return match ? decodeURIComponent(match[1]) : "";
  }
  // The tracking snippet's first-party visitor id: the pages seen before the chat join the lead.
  function visitorId() {
    var id = cookie("lh_vid");
    if (!id) { try { id = window.localStorage.getItem("lh_vid") || ""; } catch (e) { id = ""; } }
    return /^[A-Za-z0-9_-]{8,64}$/.test(id) ? id : "";
  }
  function randomKey() {
    var bytes = new Uint8Array(16), out = "";
    window.crypto.getRandomValues(bytes);
    for (var i = 0; i < bytes.length; i++) { out += ("0" + bytes[i].toString(16)).slice(-2); }
    return out;
  }
  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      var value = attrs[name];
      if (value === null || value === undefined || value === false) { return; }
      node.setAttribute(name, value === true ? "" : String(value));
    });
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }

  // --- the frame ------------------------------------------------------------------------------------
  var host = el("div", { "data-lh-chat": KEY });
  var shadow = host.attachShadow({ mode: "open" });
  var link = el("link", { rel: "stylesheet", href: STYLESHEET });
  shadow.appendChild(link);
  var root = el("div", { "class": "lh-chat" });
  var bubble = el("button", { "class": "lh-chat-bubble", type: "button", "aria-expanded": "false",
    "aria-controls": "lh-chat-panel", "aria-label": "Open the chat" });
  bubble.appendChild(el("span", { "class": "lh-chat-bubble-icon", "aria-hidden": "true" }));
  var panel = el("section", { "class": "lh-chat-panel", id: "lh-chat-panel", role: "dialog",
    "aria-modal": "false", "aria-labelledby": "lh-chat-title", hidden: true });
  var head = el("header", { "class": "lh-chat-head" });
  var title = el("h2", { "class": "lh-chat-title", id: "lh-chat-title" }, "Chat");
  var close = el("button", { "class": "lh-chat-close", type: "button", "aria-label": "Close the chat" }, "\u00d7");
  head.appendChild(title);
  head.appendChild(close);
  var log = el("ol", { "class": "lh-chat-log", role: "log", "aria-live": "polite", "aria-label": "Conversation" });
  var alertBox = el("p", { "class": "lh-chat-error", role: "alert" });
  var reply = el("div", { "class": "lh-chat-reply" });
  // The honeypot: a field people never see or reach; bots that fill every field give themselves away.
  var trap = el("input", { type: "text", name: "lh_website", tabindex: "-1", autocomplete: "off",
    "aria-hidden": "true", "class": "lh-chat-trap" });
  panel.appendChild(head);
  panel.appendChild(log);
  panel.appendChild(alertBox);
  panel.appendChild(reply);
  panel.appendChild(trap);
  root.appendChild(panel);
  root.appendChild(bubble);
  shadow.appendChild(root);

  // --- talking to LeadHub ------------------------------------------------------------------------------
  function call(method, path, body) {
    var options = { method: method, credentials: "omit", headers: {} };
    if (body) {
      body[spec.honeypot] = trap.value;
      var text = JSON.stringify(body);
      // A resend of the same message (after a network failure) carries the same key: stored once.
      if (!pending || pending.path !== path || pending.text !== text) { pending = { path: path, text: text, key: randomKey() }; }
      options.headers["Content-Type"] = "application/json";
      options.headers["Idempotency-Key"] = pending.key;
      options.body = text;
    }
    return fetch(endpoint + path, options).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (json) {
        if (response.ok) { pending = null; }
        return { status: response.status, json: json, retry: response.headers.get("Retry-After") };
      });
    });
  }
  function problem(answer) {
    var error = (answer.json && answer.json.error) || {};
    if (answer.status === 429) {
      return "Too many messages. Please try again in " + (answer.retry || "a few") + " seconds.";
    }
    if (answer.status === 400 && error.fields) {
      return Object.keys(error.fields).map(function (name) { return error.fields[name].join(" "); }).join(" ");
    }
    return error.message || "Something went wrong. Please try again.";
  }
  function showProblem(message) { alertBox.textContent = message || ""; }
  function offline() { showProblem("Your message could not be sent. Check your connection and try again."); }

  // --- the conversation ------------------------------------------------------------------------------
  function say(who, text) {
    var item = el("li", { "class": "lh-chat-msg lh-chat-" + who });
    item.appendChild(el("span", { "class": "lh-chat-sr" }, who === "bot" ? (spec.name + ": ") : "You: "));
    item.appendChild(el("span", { "class": "lh-chat-text" }, text));
    log.appendChild(item);
    log.scrollTop = log.scrollHeight;
  }
  function drawLog() {
    log.textContent = "";
    say("bot", spec.greeting);
    state.answers.forEach(function (a) { say("bot", a.prompt); say("me", a.answer); });
    if (state.next) { say("bot", state.next.prompt); }
  }
  function focusReply() {
    var target = reply.querySelector("input, textarea, select, button");
    if (target && open) { target.focus(); }
  }
  function accept(answer) {
    busy = false;
    if (answer.status === 200 || answer.status === 201) {
      showProblem("");
      state = answer.json;
      store(STORE, state.conversation);
      drawLog();
      drawReply();
      focusReply();
      return;
    }
    if (answer.status === 404 && state === null) { store(STORE, null); start(); return; }
    if (answer.status === 409) { resume(stored(STORE)); }
    showProblem(problem(answer));
  }
  function start() {
    busy = true;
    call("POST", "conversations/", { visitor_id: visitorId(), page_url: location.href, referrer: document.referrer })
      .then(accept).catch(function () { busy = false; offline(); });
  }
  function resume(token) {
    busy = true;
    call("GET", "conversations/" + encodeURIComponent(token) + "/").then(function (answer) {
      if (answer.status === 404) { state = null; }
      accept(answer);
    }).catch(function () { busy = false; offline(); });
  }
  function send(value, extra) {
    if (busy || !state || !state.next) { return; }
    busy = true;
    var body = { question: state.next.key, value: value };
    Object.keys(extra || {}).forEach(function (k) { body[k] = extra[k]; });
    call("POST", "conversations/" + encodeURIComponent(state.conversation) + "/answers/", body)
      .then(accept).catch(function () { busy = false; offline(); });
  }

  function textForm(question) {
    var form = el("form", { "class": "lh-chat-form", novalidate: true });
    var id = "lh-chat-answer";
    form.appendChild(el("label", { "for": id, "class": "lh-chat-sr" }, question.prompt));
    var input;
    if (question.type === "text") {
      input = el("textarea", { id: id, rows: 2, maxlength: 1000, placeholder: "Type your answer", required: true });
      input.addEventListener("keydown", function (event) {
        if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); form.requestSubmit(); }
      });
    } else if (question.type === "number") {
      input = el("input", { id: id, type: "number", inputmode: "decimal", required: true, step: "any",
        min: question.min, max: question.max, placeholder: "A number" });
    } else {
      input = el("input", { id: id, type: "email", autocomplete: "email", required: true, placeholder: "you@company.com" });
    }
    var row = el("div", { "class": "lh-chat-row" });
    row.appendChild(input);
    row.appendChild(el("button", { type: "submit", "class": "lh-chat-send" }, "Send"));
    form.appendChild(row);
    var consent = null;
    if (question.type === "email") {
      var label = el("label", { "class": "lh-chat-consent" });
      consent = el("input", { type: "checkbox", required: true });
      label.appendChild(consent);
      label.appendChild(el("span", {}, question.consent));
      form.appendChild(label);
    }
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!input.value.trim()) { showProblem("Please type an answer first."); input.focus(); return; }
      // The browser's own check first (LeadHub checks again): no round trip for a typo.
      if (question.type === "email" && !input.checkValidity()) {
        showProblem("Enter a valid email address."); input.focus(); return;
      }
      if (consent && !consent.checked) {
        showProblem("Tick the box to agree before sending your email."); consent.focus(); return;
      }
      send(input.value, consent ? { consent: consent.checked } : null);
    });
    return form;
  }
  function choices(question) {
    var group = el("div", { "class": "lh-chat-choices", role: "group", "aria-label": question.prompt });
    var options = question.type === "yes_no" ? [["yes", "Yes"], ["no", "No"]]
      : question.options.map(function (o) { return [o, o]; });
    options.forEach(function (option) {
      var button = el("button", { type: "button", "class": "lh-chat-choice" }, option[1]);
      button.addEventListener("click", function () { send(option[0]); });
      group.appendChild(button);
    });
    return group;
  }
  function after(path, body, done) {
    if (busy) { return; }
    busy = true;
    call("POST", "conversations/" + encodeURIComponent(state.conversation) + "/" + path + "/", body)
      .then(function (answer) {
        busy = false;
        if (answer.status === 200 || answer.status === 201) {
          showProblem("");
          say("bot", answer.json.message);
          reply.textContent = "";
          done();
        } else {
          showProblem(problem(answer));
        }
      }).catch(function () { busy = false; offline(); });
  }
  function meetingForm(end) {
    var form = el("form", { "class": "lh-chat-form lh-chat-meeting", novalidate: true });
    form.appendChild(el("p", { "class": "lh-chat-form-title" }, "When would suit you?"));
    var today = new Date(), pad = function (n) { return ("0" + n).slice(-2); };
    var min = today.getFullYear() + "-" + pad(today.getMonth() + 1) + "-" + pad(today.getDate());
    form.appendChild(el("label", { "for": "lh-chat-day" }, "Preferred day"));
    var day = el("input", { id: "lh-chat-day", type: "date", min: min, required: true });
    form.appendChild(day);
    form.appendChild(el("label", { "for": "lh-chat-slot" }, "Time of day"));
    var slot = el("select", { id: "lh-chat-slot", required: true });
    end.slots.forEach(function (s) { var o = el("option", { value: s.value }, s.label); slot.appendChild(o); });
    form.appendChild(slot);
    form.appendChild(el("label", { "for": "lh-chat-note" }, "Anything we should know? (optional)"));
    var note = el("textarea", { id: "lh-chat-note", rows: 2, maxlength: 1000 });
    form.appendChild(note);
    form.appendChild(el("button", { type: "submit", "class": "lh-chat-send" }, "Request the meeting"));
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!day.value) { showProblem("Please choose a day."); day.focus(); return; }
      var zone = "";
      try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { zone = ""; }
      after("meeting", { day: day.value, slot: slot.value, note: note.value, timezone: zone }, function () {
        state.end.outcome = "meeting";
      });
    });
    return form;
  }
  function drawEnd(end) {
    if (end.outcome === "meeting" || end.outcome === "handoff") {
      say("bot", end.closing);
      return;
    }
    say("bot", end.message);
    if (end.content) {
      var offer = el("a", { "class": "lh-chat-offer", href: end.content.url, target: "_blank", rel: "noopener" },
        end.content.label);
      reply.appendChild(offer);
    }
    var actions = el("div", { "class": "lh-chat-choices", role: "group", "aria-label": "What next" });
    if (end.offers.meeting) {
      var meet = el("button", { type: "button", "class": "lh-chat-choice" }, "Request a meeting");
      meet.addEventListener("click", function () {
        reply.textContent = "";
        reply.appendChild(meetingForm(end));
        focusReply();
      });
      actions.appendChild(meet);
    }
    if (end.offers.handoff) {
      var talk = el("button", { type: "button", "class": "lh-chat-choice" }, "Have sales contact me");
      talk.addEventListener("click", function () {
        after("handoff", {}, function () { state.end.outcome = "handoff"; });
      });
      actions.appendChild(talk);
    }
    if (actions.childNodes.length) { reply.appendChild(actions); }
  }
  function drawReply() {
    reply.textContent = "";
    if (state.next) {
      reply.appendChild(state.next.type === "choice" || state.next.type === "yes_no" ? choices(state.next)
        : textForm(state.next));
    } else if (state.end) {
      drawEnd(state.end);
    }
  }

  function setOpen(value) {
    open = value;
    panel.hidden = !value;
    bubble.setAttribute("aria-expanded", value ? "true" : "false");
    bubble.setAttribute("aria-label", value ? "Close the chat" : "Open the chat: " + spec.name);
    store(STORE + ":open", value ? "1" : null);
    if (!value) { bubble.focus(); return; }
    if (state) { focusReply(); return; }
    var token = stored(STORE);
    if (token) { resume(token); } else if (!busy) { start(); }
  }
  bubble.addEventListener("click", function () { setOpen(!open); });
  close.addEventListener("click", function () { setOpen(false); });
  panel.addEventListener("keydown", function (event) {
    if (event.key === "Escape") { event.stopPropagation(); setOpen(false); }
  });

  fetch(endpoint, { credentials: "omit" }).then(function (response) {
    if (!response.ok) { throw new Error("LeadHub chat " + KEY + " is unavailable (" + response.status + ")"); }
    return response.json();
  }).then(function (data) {
    if (!data.active) { return; }
    spec = data;
    title.textContent = data.name;
    bubble.setAttribute("aria-label", "Open the chat: " + data.name);
    document.body.appendChild(host);
    // A reload in the middle of a conversation brings it back where it was.
    if (stored(STORE + ":open") === "1") { setOpen(true); }
  }).catch(function (error) {
    if (window.console) { console.warn(error.message || error); }
  });
{% endverbatim %}
})();
