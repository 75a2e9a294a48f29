/* LeadHub embedded form {{ key|escapejs }}: draws the form where this script tag is and posts it as JSON.
   No dependencies. Answers are shown with textContent only, never parsed as HTML. */
(function () {
  "use strict";
  var KEY = "{{ key|escapejs }}";
  var BASE = "{{ base|escapejs }}";
  var STYLESHEET = "{{ stylesheet|escapejs }}";
{% verbatim %}
  var script = document.currentScript;
  if (!script || !window.fetch) { return; }
  var endpoint = BASE + "f/" + encodeURIComponent(KEY) + "/";
  var root = document.createElement("div");
  root.className = "lh-embed";
  script.parentNode.insertBefore(root, script.nextSibling);

  // A stylesheet link rather than an inline <style>: pages with a strict Content-Security-Policy
  // (LeadHub's landing pages among them) allow a stylesheet from a listed origin, never inline styles.
  if (!document.getElementById("lh-embed-style")) {
    var style = document.createElement("link");
    style.id = "lh-embed-style";
    style.rel = "stylesheet";
    style.href = STYLESHEET;
    (document.head || document.documentElement).appendChild(style);
  }

  function cookie(name) {
    var match = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
    return match ? decodeURIComponent(match[1]) : "";
  }

  // The first-party visitor id that the tracking snippet uses too; it lets a returning visitor skip
  // the questions they already answered.
  function visitorId() {
    var id = cookie("lh_vid");
    if (!id && navigator.doNotTrack !== "1") {
      id = window.crypto && crypto.randomUUID ? crypto.randomUUID()
        : String(Date.now()) + Math.random().toString(16).slice(2);
      document.cookie = "lh_vid=" + id + "; path=/; max-age=63072000; SameSite=Lax";
    }
    return id;
  }
  var vid = visitorId();

  function pageValues() {
    var values = { page_url: location.href, referrer: document.referrer };
    new URLSearchParams(location.search).forEach(function (value, key) {
      if (/^utm_(source|medium|campaign|content|term)$/.test(key) || /^lh_[a-z0-9_]{1,40}$/.test(key)) {
        values[key] = value;
      }
    });
    // A referral code the tracking snippet kept from an earlier page of the visit.
    if (cookie("lh_ref") && !values.lh_ref) { values.lh_ref = cookie("lh_ref"); }
    Array.prototype.forEach.call(script.attributes, function (attribute) {
      var match = /^data-(lh-[a-z0-9-]{1,40})$/.exec(attribute.name);
      if (match) { values[match[1].replace(/-/g, "_")] = attribute.value; }
    });
    return values;
  }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      var value = attrs[name];
      if (value === null || value === undefined || value === false || value === "") { return; }
      node.setAttribute(name, value === true ? "" : String(value));
    });
    if (text) { node.textContent = text; }
    return node;
  }

  var spec = null;
  var formEl = null;
  var answers = {};

  function load(email) {
    var url = endpoint + "fields/?vid=" + encodeURIComponent(vid || "") +
      (email ? "&email=" + encodeURIComponent(email) : "");
    return fetch(url, { credentials: "omit" }).then(function (response) {
      if (!response.ok) { throw new Error("LeadHub form " + KEY + " is unavailable (" + response.status + ")"); }
      return response.json();
    });
  }

  function remember() {
    if (!formEl) { return; }
    Array.prototype.forEach.call(formEl.elements, function (input) {
      if (input.name) { answers[input.name] = input.type === "checkbox" ? input.checked : input.value; }
    });
  }

  function field(f) {
    var id = "lh-" + KEY + "-" + f.id;
    var wrap = el("div", { "class": "lh-field", "data-name": f.name });
    var input;
    if (f.type === "checkbox") {
      var label = el("label", { "class": "lh-check" });
      input = el("input", { type: "checkbox", name: f.name, id: id });
      label.appendChild(input);
      label.appendChild(el("span", {}, f.label + (f.required ? " *" : "")));
      wrap.appendChild(label);
      input.checked = answers[f.name] === true;
    } else {
      wrap.appendChild(el("label", { "for": id }, f.label + (f.required ? " *" : "")));
      var common = { id: id, name: f.name, required: f.required, placeholder: f.placeholder };
      if (f.type === "select") {
        input = el("select", common);
        // An explicit empty value: without the attribute an option's value is its text.
        var none = el("option", {}, "Choose…");
        none.value = "";
        input.appendChild(none);
        f.choices.forEach(function (choice) { input.appendChild(el("option", { value: choice }, choice)); });
      } else if (f.type === "textarea") {
        common.rows = 3;
        common.maxlength = f.max_length;
        input = el("textarea", common);
      } else {
        common.type = f.type;
        common.minlength = f.min_length;
        common.maxlength = f.max_length;
        input = el("input", common);
      }
      if (typeof answers[f.name] === "string") { input.value = answers[f.name]; }
      wrap.appendChild(input);
    }
    if (f.help_text) { wrap.appendChild(el("small", { "class": "lh-help" }, f.help_text)); }
    return wrap;
  }

  function render(data) {
    remember();
    var focused = document.activeElement && document.activeElement.name;
    spec = data;
    root.textContent = "";
    if (!data.active) {
      root.appendChild(el("p", {}, "This form is not accepting submissions at the moment."));
      return;
    }
    formEl = el("form", { "class": "lh-form", novalidate: true, "aria-label": data.name });
    data.fields.forEach(function (f) { formEl.appendChild(field(f)); });
    data.consents.forEach(function (c) {
      var wrap = el("div", { "class": "lh-field lh-consent", "data-name": c.name });
      var label = el("label", { "class": "lh-check" });
      var box = el("input", { type: "checkbox", name: c.name, required: c.required });
      box.checked = answers[c.name] === true;
      label.appendChild(box);
      label.appendChild(el("span", {}, c.text + (c.required ? " *" : "")));
      wrap.appendChild(label);
      formEl.appendChild(wrap);
    });
    // The honeypot: hidden from people (CSSOM, so a strict style-src on the page does not reveal it).
    var trap = el("div", { "aria-hidden": "true" });
    trap.style.position = "absolute";
    trap.style.left = "-10000px";
    trap.style.width = "1px";
    trap.style.height = "1px";
    trap.style.overflow = "hidden";
    trap.appendChild(el("input", { type: "text", name: data.honeypot, tabindex: "-1", autocomplete: "off" }));
    formEl.appendChild(trap);
    formEl.appendChild(el("div", { "class": "lh-error lh-general", role: "alert" }));
    formEl.appendChild(el("button", { type: "submit" }, data.submit_label));
    formEl.addEventListener("submit", submit);
    var email = formEl.querySelector('[name="contact.email"]');
    if (email) {
      email.addEventListener("change", function () {
        if (email.value && email.checkValidity()) { load(email.value).then(render).catch(report); }
      });
    }
    root.appendChild(formEl);
    if (focused && formEl.elements[focused]) { formEl.elements[focused].focus(); }
  }

  function showErrors(fields, message) {
    Array.prototype.forEach.call(formEl.querySelectorAll(".lh-field > .lh-error"), function (node) { node.remove(); });
    Object.keys(fields || {}).forEach(function (name) {
      var wrap = formEl.querySelector('[data-name="' + name.replace(/["\\]/g, "") + '"]');
      if (wrap) { wrap.appendChild(el("span", { "class": "lh-error", role: "alert" }, fields[name].join(" "))); }
    });
    formEl.querySelector(".lh-general").textContent = message || "";
  }

  function submit(event) {
    event.preventDefault();
    var body = pageValues();
    Array.prototype.forEach.call(formEl.elements, function (input) {
      if (input.name) { body[input.name] = input.type === "checkbox" ? input.checked : input.value; }
    });
    body._lh_t = spec.token;
    body._lh_vid = vid;
    var button = formEl.querySelector("button[type=submit]");
    button.disabled = true;
    fetch(endpoint, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
      credentials: "omit"
    }).then(function (response) {
      return response.json().then(function (json) {
        return { status: response.status, json: json, retry: response.headers.get("Retry-After") };
      });
    }).then(function (answer) {
      button.disabled = false;
      if (answer.status === 200) {
        if (answer.json.redirect_url) { window.location.href = answer.json.redirect_url; return; }
        root.textContent = "";
        root.appendChild(el("div", { "class": "lh-success", role: "status" }, answer.json.message));
        return;
      }
      var error = answer.json.error || {};
      if (answer.status === 429) {
        showErrors({}, "Too many attempts. Please try again in " + (answer.retry || "a few") + " seconds.");
      } else {
        showErrors(answer.status === 400 ? error.fields : {}, error.message || "The form could not be sent.");
      }
    }).catch(function () {
      button.disabled = false;
      showErrors({}, "The form could not be sent. Check your connection and try again.");
    });
  }

  function report(error) {
    if (window.console) { console.warn(error.message || error); }
  }

  load("").then(render).catch(report);
{% endverbatim %}
})();
