// siyu journey editor: a form per node over the definition's JSON (the textarea the page posts).
// Each change rewrites the JSON and is sent to /journeys/check, whose answer (the graph redrawn
// with its counts, each problem at its node) replaces the graph and the problem list; a send
// node's templates are rendered for a chosen customer by /messages/preview. Every visible word
// comes from the page's configuration, in the page's language (see console/journey_editor.rs).
(function () {
  "use strict";
  var editor = document.getElementById("journey-editor");
  var text = document.getElementById("journey-definition");
  var form = document.getElementById("journey-form");
  if (!editor || !text || !form) return;
  var CONFIG = JSON.parse(editor.getAttribute("data-config") || "{}");
  var L = CONFIG.labels || {};
  var READONLY = !!CONFIG.readonly;
  var csrf = form.querySelector("input[name=_csrf]").value;
  var graph = document.getElementById("journey-graph");
  var problemsBox = document.getElementById("journey-problems");
  var jsonError = document.getElementById("journey-json-error");
  var previewCustomer = document.getElementById("journey-preview-customer");
  var KINDS = ["wait", "wait_until", "wait_for_event", "branch", "split", "send", "webhook", "add_tag",
    "remove_tag", "set_trait", "task", "issue_coupon", "grant_lottery_chance", "exit"];
  var DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
  var TRIGGERS = ["api", "event", "segment_entered", "segment_exited", "broadcast", "anniversary"];
  var def;
  // The send nodes' previews, each a run() and a stop(); replaced on every redraw.
  var previews = [];
  // Whether the JSON text holds what the forms do not (it does not parse, or cannot be drawn):
  // then the forms write nothing over it.
  var jsonBroken = false;

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (attrs[k] !== null && attrs[k] !== undefined) node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { node.appendChild(typeof c === "string" ? document.createTextNode(c) : c); });
    return node;
  }

  function labelled(label, control, cls) {
    return el("label", { "class": "field " + (cls || "") }, [el("span", {}, [label]), control]);
  }

  function disable(control) { if (READONLY) control.disabled = true; return control; }

  function input(value, onchange, attrs) {
    var i = disable(el("input", attrs || {}));
    i.value = value === undefined || value === null ? "" : value;
    i.addEventListener("input", function () { onchange(i.value); });
    return i;
  }

  function area(value, onchange, attrs) {
    var a = disable(el("textarea", Object.assign({ rows: 3, spellcheck: "false" }, attrs || {})));
    a.value = value || "";
    a.addEventListener("input", function () { onchange(a.value); });
    return a;
  }

  function select(options, value, onchange, cls) {
    var s = disable(el("select", { "class": cls || null }));
    var found = false;
    options.forEach(function (o) {
      var opt = el("option", { value: o[0] }, [o[1]]);
      if (o[0] === value) { opt.selected = true; found = true; }
      s.appendChild(opt);
    });
    if (!found && value) {
      // A value the workspace does not have (the check names it): kept, so nothing is lost.
      var kept = el("option", { value: value }, [value]);
      kept.selected = true;
      s.appendChild(kept);
    }
    s.addEventListener("change", function () { onchange(s.value); });
    return s;
  }

  // A JSON value typed as text: applied when it parses, marked while it does not.
  function jsonArea(value, onchange, rows) {
    var shown = value === undefined || value === null ? "" : JSON.stringify(value);
    var box = area(shown, function (typed) {
      box.classList.remove("bad");
      if (!typed.trim()) { onchange(undefined); return; }
      var value;
      // Not JSON yet (a value being typed): marked, and the definition keeps its last value.
      try { value = JSON.parse(typed); } catch (e) { box.classList.add("bad"); return; }
      onchange(value);
    }, { rows: rows || 2, "class": "mono" });
    return box;
  }

  function outletSelect(value, onchange) {
    var options = [["", L.journey_end]];
    Object.keys(def.nodes).forEach(function (id) { options.push([id, id]); });
    return select(options, value || "", function (v) { onchange(v || undefined); structure(); }, "outlet");
  }

  function channelsFor(kind) {
    return (CONFIG.channels || [])
      .filter(function (c) { return kind === "webhook" ? c.kind === "webhook" : ["dingtalk", "feishu", "wecom_app"].indexOf(c.kind) < 0; })
      .map(function (c) { return [c.name, c.name]; });
  }

  // Campaign things the workspace has, as select options: "#id name".
  function named(list) {
    return (list || []).map(function (x) { return [String(x.id), "#" + x.id + " " + x.name]; });
  }

  function blank(kind) {
    var firstChannel = (channelsFor(kind)[0] || [""])[0];
    switch (kind) {
      case "wait": return { type: kind, duration: "1d" };
      case "wait_until": return { type: kind, time: "10:00" };
      case "wait_for_event": return { type: kind, event: "Order Completed", timeout: "2h" };
      case "branch": return { type: kind, condition: { tag: (CONFIG.tags || [""])[0] || "" }, yes: "", no: "" };
      case "split": return { type: kind, arms: [{ name: "a", percent: 50 }, { name: "b", percent: 50 }] };
      case "send": return { type: kind, channel: firstChannel, "class": "marketing", body: "" };
      case "webhook": return { type: kind, channel: firstChannel, event: "crm.lead" };
      case "add_tag": case "remove_tag": return { type: kind, tag: (CONFIG.tags || [""])[0] || "" };
      case "set_trait": return { type: kind, key: "", value: "" };
      case "task": return { type: kind, reason: "" };
      case "issue_coupon": return { type: kind, coupon_template: ((CONFIG.coupon_templates || [])[0] || {}).id || 0 };
      case "grant_lottery_chance": return { type: kind, lottery: ((CONFIG.lotteries || [])[0] || {}).id || 0, chances: 1 };
      default: return { type: "exit" };
    }
  }

  function set(obj, key, value) {
    if (value === undefined || value === "") delete obj[key]; else obj[key] = value;
    changed();
  }

  // Every reference to `from` (start, outlets, arms) now names `to`.
  function rename(from, to) {
    if (!to || to === from || def.nodes[to]) return false;
    var renamed = {};
    Object.keys(def.nodes).forEach(function (id) { renamed[id === from ? to : id] = def.nodes[id]; });
    def.nodes = renamed;
    if (def.start === from) def.start = to;
    Object.keys(def.nodes).forEach(function (id) {
      var n = def.nodes[id];
      ["next", "yes", "no", "timeout_next"].forEach(function (k) { if (n[k] === from) n[k] = to; });
      (n.arms || []).forEach(function (arm) { if (arm.next === from) arm.next = to; });
    });
    return true;
  }

  function remove(id) {
    delete def.nodes[id];
    Object.keys(def.nodes).forEach(function (other) {
      var n = def.nodes[other];
      ["next", "timeout_next"].forEach(function (k) { if (n[k] === id) delete n[k]; });
      ["yes", "no"].forEach(function (k) { if (n[k] === id) n[k] = ""; });
      (n.arms || []).forEach(function (arm) { if (arm.next === id) delete arm.next; });
    });
    if (def.start === id) def.start = Object.keys(def.nodes)[0] || "";
  }

  function freshId(kind) {
    for (var i = 1; ; i++) { if (!def.nodes[kind + "_" + i]) return kind + "_" + i; }
  }

  // ---- cards ----

  function triggerCard() {
    var trigger = def.trigger || (def.trigger = { type: "api" });
    var body = el("div", { "class": "fields" });
    var kind = select(TRIGGERS.map(function (k) { return [k, L["trigger_" + k]]; }), trigger.type, function (v) {
      def.trigger = { type: v };
      if (v === "anniversary") def.trigger = { type: v, trait: "birthday", time: "09:00" };
      if (v === "broadcast") def.trigger = { type: v, segment: "", cron: "0 10 * * MON" };
      structure();
    }, "trigger-type");
    body.appendChild(labelled(L.journey_trigger, kind));
    var segments = (CONFIG.segments || []).map(function (s) { return [s.key, s.name + " (" + s.key + ")"]; });
    var segment = function () { return labelled(L.field_segment, select([["", "—"]].concat(segments), trigger.segment || "", function (v) { set(trigger, "segment", v); })); };
    switch (trigger.type) {
      case "event":
        body.appendChild(labelled(L.field_event, input(trigger.event, function (v) { set(trigger, "event", v); })));
        body.appendChild(labelled(L.field_where, jsonArea(trigger.where, function (v) { set(trigger, "where", v); })));
        break;
      case "segment_entered": case "segment_exited":
        body.appendChild(segment());
        break;
      case "broadcast":
        body.appendChild(segment());
        body.appendChild(labelled(L.field_cron, input(trigger.cron, function (v) { set(trigger, "cron", v); })));
        body.appendChild(labelled(L.field_at, input(trigger.at, function (v) { set(trigger, "at", v); })));
        break;
      case "anniversary":
        body.appendChild(labelled(L.field_date_trait, input(trigger.trait, function (v) { set(trigger, "trait", v); })));
        body.appendChild(labelled(L.field_time, input(trigger.time, function (v) { set(trigger, "time", v); }, { size: 6 })));
        break;
    }
    return el("section", { "class": "jcard trigger", id: "journey-trigger", "data-field": "trigger" }, [el("h3", {}, [L.journey_trigger]), body]);
  }

  function settingsCard() {
    var body = el("div", { "class": "fields" });
    var starts = Object.keys(def.nodes).map(function (id) { return [id, id]; });
    body.appendChild(labelled(L.journey_start, select(starts, def.start, function (v) { def.start = v; structure(); }, "start")));
    body.appendChild(labelled(L.journey_goal, input(def.goal ? def.goal.event : "", function (v) {
      if (v.trim()) def.goal = { event: v }; else delete def.goal;
      changed();
    }, { "class": "goal" })));
    var reentry = def.reentry || { policy: "never" };
    body.appendChild(labelled(L.journey_reentry, select([
      ["never", L.reentry_never], ["after_days", L.reentry_after_days], ["always", L.reentry_always]
    ], reentry.policy, function (v) {
      def.reentry = v === "after_days" ? { policy: v, days: 30 } : { policy: v };
      structure();
    })));
    if (reentry.policy === "after_days") {
      body.appendChild(labelled(L.journey_reentry_days, input(reentry.days, function (v) {
        def.reentry = { policy: "after_days", days: parseInt(v, 10) || 0 };
        changed();
      }, { type: "number", min: 1, max: 3650 })));
    }
    return el("section", { "class": "jcard settings", "data-field": "goal" }, [body]);
  }

  function daysPicker(node) {
    var words = String(L.field_weekdays || "").split(",");
    var box = el("div", { "class": "days" });
    DAYS.forEach(function (day, i) {
      var check = disable(el("input", { type: "checkbox", value: day }));
      check.checked = (node.days || []).indexOf(day) >= 0;
      check.addEventListener("change", function () {
        var chosen = DAYS.filter(function (d) { return box.querySelector("input[value=" + d + "]").checked; });
        set(node, "days", chosen.length ? chosen : undefined);
      });
      box.appendChild(el("label", { "class": "day" }, [check, words[i] || day]));
    });
    return box;
  }

  function armsEditor(node) {
    var box = el("div", { "class": "arms" });
    node.arms = node.arms || [];
    node.arms.forEach(function (arm, i) {
      var row = el("div", { "class": "arm" });
      row.appendChild(labelled(L.field_arm_name, input(arm.name, function (v) { arm.name = v; changed(); }, { size: 10, "class": "arm-name" })));
      row.appendChild(labelled(L.field_arm_percent, input(arm.percent, function (v) { arm.percent = parseInt(v, 10) || 0; changed(); }, { type: "number", min: 0, max: 100, "class": "arm-percent" })));
      row.appendChild(labelled(L.outlet_next, outletSelect(arm.next, function (v) { if (v) arm.next = v; else delete arm.next; })));
      if (!READONLY) {
        var drop = el("button", { type: "button", "class": "btn small ghost drop-arm", "aria-label": L.journey_delete_node }, ["×"]);
        drop.addEventListener("click", function () { node.arms.splice(i, 1); structure(); });
        row.appendChild(drop);
      }
      box.appendChild(row);
    });
    if (!READONLY) {
      var add = el("button", { type: "button", "class": "btn small add-arm" }, [L.field_arm_add]);
      add.addEventListener("click", function () { node.arms.push({ name: "arm_" + (node.arms.length + 1), percent: 0 }); structure(); });
      box.appendChild(add);
    }
    box.appendChild(el("p", { "class": "muted" }, [L.field_arm_control]));
    return box;
  }

  function previewBox(node) {
    var box = el("div", { "class": "preview", "aria-live": "polite" }, [el("b", {}, [L.journey_preview])]);
    var out = el("div", { "class": "preview-out" });
    box.appendChild(out);
    var timer = null, sequence = 0;
    function run() {
      clearTimeout(timer);
      if (!box.isConnected) return;
      timer = setTimeout(function () {
        var mine = ++sequence;
        var customer = previewCustomer ? previewCustomer.value.trim() : "";
        if (!customer) { out.textContent = L.journey_no_customer; return; }
        if (!node.saved_template && !(node.body || "").trim()) { out.textContent = ""; return; }
        var en = node.en || {};
        var body = new URLSearchParams(node.saved_template ? {
          _csrf: csrf, customer: customer, saved_template: node.saved_template
        } : {
          _csrf: csrf, customer: customer, body: node.body || "", subject: node.subject || "",
          html: node.html || "", params: JSON.stringify(node.params || {}),
          en_body: en.body || "", en_subject: en.subject || "", en_html: en.html || ""
        });
        fetch("/messages/preview", { method: "POST", body: body, credentials: "same-origin" })
          .then(function (r) { return r.json(); })
          .then(function (answer) {
            if (mine !== sequence) return;
            out.innerHTML = "";
            if (answer.problems) {
              answer.problems.forEach(function (p) { out.appendChild(el("p", { "class": "errors" }, [(p.label ? p.label + ": " : "") + p.reason])); });
              return;
            }
            if (answer.subject) out.appendChild(el("p", { "class": "subject" }, [answer.subject]));
            out.appendChild(el("p", { "class": "body" }, [answer.body]));
            var length = String(L.journey_sms_length).replace("{}", answer.sms_characters).replace("{}", answer.sms_messages);
            out.appendChild(el("p", { "class": "muted sms" }, [length + (answer.masked ? " · " + L.journey_preview_masked : "")]));
          })
          .catch(function () {});
      }, 300);
    }
    box.run = run;
    box.stop = function () { clearTimeout(timer); sequence++; };
    return box;
  }

  function nodeFields(id, node, body) {
    var add = function (label, control) { body.appendChild(labelled(label, control)); };
    var next = function (key, label) {
      add(label || L.outlet_next, outletSelect(node[key], function (v) { if (v) node[key] = v; else if (key === "yes" || key === "no") node[key] = ""; else delete node[key]; }));
    };
    switch (node.type) {
      case "wait":
        add(L.field_duration, input(node.duration, function (v) { set(node, "duration", v); }, { size: 8, "class": "duration" }));
        next("next");
        break;
      case "wait_until":
        add(L.field_time, input(node.time, function (v) { set(node, "time", v); }, { size: 6, "class": "time" }));
        add(L.field_days, daysPicker(node));
        next("next");
        break;
      case "wait_for_event":
        add(L.field_event, input(node.event, function (v) { set(node, "event", v); }));
        add(L.field_where, jsonArea(node.where, function (v) { set(node, "where", v); }));
        add(L.field_timeout, input(node.timeout, function (v) { set(node, "timeout", v); }, { size: 8 }));
        next("next", L.outlet_happened);
        next("timeout_next", L.outlet_timeout);
        break;
      case "branch":
        add(L.field_condition, jsonArea(node.condition, function (v) { if (v !== undefined) { node.condition = v; changed(); } }, 3));
        body.appendChild(el("p", { "class": "muted" }, [L.field_condition_note]));
        next("yes", L.outlet_yes);
        next("no", L.outlet_no);
        break;
      case "split":
        body.appendChild(armsEditor(node));
        break;
      case "send": {
        var preview = previewBox(node);
        var then = function (key) { return function (v) { set(node, key, v); preview.run(); }; };
        add(L.field_channel, select(channelsFor("send"), node.channel, function (v) { set(node, "channel", v); }, "channel"));
        var saved = [["", L.saved_none]].concat((CONFIG.templates || []).map(function (t) {
          return [t.name, t.title + " · " + (t["class"] === "transactional" ? L.class_transactional : L.class_marketing)];
        }));
        add(L.field_saved_template, select(saved, node.saved_template || "", function (v) {
          // A saved template's text and class replace the node's own: the forms show one or the other.
          if (v) ["class", "subject", "body", "html", "template", "params", "en"].forEach(function (k) { delete node[k]; });
          else { node["class"] = "marketing"; node.body = ""; }
          set(node, "saved_template", v || undefined);
          structure();
        }, "saved-template"));
        if (node.saved_template) {
          body.appendChild(el("p", { "class": "muted" }, [L.saved_note]));
        } else {
          var en = function (key) {
            return function (v) {
              var t = node.en || {};
              if (v) t[key] = v; else delete t[key];
              if (t.body || t.subject || t.html) node.en = t; else delete node.en;
              changed();
              preview.run();
            };
          };
          add(L.field_class, select([["marketing", L.class_marketing], ["transactional", L.class_transactional]], node["class"], function (v) { set(node, "class", v); }));
          add(L.field_subject, input(node.subject, then("subject")));
          add(L.field_body, area(node.body, then("body"), { rows: 4, "class": "body" }));
          add(L.field_html, area(node.html, then("html"), { rows: 2 }));
          add(L.field_en_subject, input((node.en || {}).subject, en("subject")));
          add(L.field_en_body, area((node.en || {}).body, en("body"), { rows: 3, "class": "en-body" }));
          add(L.field_template, input(node.template, function (v) { set(node, "template", v); }));
          add(L.field_params, jsonArea(node.params, function (v) { set(node, "params", v); preview.run(); }));
        }
        body.appendChild(preview);
        previews.push(preview);
        next("next");
        break;
      }
      case "webhook":
        add(L.field_channel, select(channelsFor("webhook"), node.channel, function (v) { set(node, "channel", v); }, "channel"));
        add(L.field_hook_event, input(node.event, function (v) { set(node, "event", v); }));
        add(L.field_data, jsonArea(node.data, function (v) { set(node, "data", v); }));
        add(L.field_params, jsonArea(node.params, function (v) { set(node, "params", v); }));
        next("next");
        break;
      case "add_tag": case "remove_tag":
        add(L.field_tag, select((CONFIG.tags || []).map(function (t) { return [t, t]; }), node.tag, function (v) { set(node, "tag", v); }, "tag"));
        next("next");
        break;
      case "set_trait":
        add(L.field_trait_key, input(node.key, function (v) { set(node, "key", v); }));
        add(L.field_trait_value, jsonArea(node.value, function (v) { node.value = v === undefined ? "" : v; changed(); }));
        next("next");
        break;
      case "task":
        add(L.field_reason, area(node.reason, function (v) { set(node, "reason", v); }, { rows: 2, "class": "reason" }));
        next("next");
        break;
      case "issue_coupon":
        add(L.field_coupon_template, select(named(CONFIG.coupon_templates), String(node.coupon_template), function (v) { set(node, "coupon_template", Number(v)); }, "coupon-template"));
        next("next");
        break;
      case "grant_lottery_chance":
        add(L.field_lottery, select(named(CONFIG.lotteries), String(node.lottery), function (v) { set(node, "lottery", Number(v)); }, "lottery"));
        add(L.field_chances, input(String(node.chances || 1), function (v) { set(node, "chances", Number(v) || 1); }, { type: "number", min: 1, max: 100 }));
        next("next");
        break;
    }
  }

  function nodeCard(id) {
    var node = def.nodes[id];
    var card = el("section", { "class": "jcard node", id: "node-" + id, "data-node": id });
    var head = el("div", { "class": "jcard-head" });
    var idInput = input(id, function () {}, { size: 14, "class": "node-id", "aria-label": L.journey_node_id, pattern: "[A-Za-z0-9_\\-]{1,64}" });
    idInput.addEventListener("change", function () {
      if (rename(id, idInput.value.trim())) structure(); else idInput.value = id;
    });
    head.appendChild(idInput);
    head.appendChild(el("span", { "class": "badge kind" }, [L["node_" + node.type] || node.type]));
    if (!READONLY) {
      var drop = el("button", { type: "button", "class": "btn small ghost delete-node" }, [L.journey_delete_node]);
      drop.addEventListener("click", function () { remove(id); structure(); });
      head.appendChild(drop);
    }
    card.appendChild(head);
    var body = el("div", { "class": "fields" });
    nodeFields(id, node, body);
    card.appendChild(body);
    card.appendChild(el("ul", { "class": "errors card-problems" }));
    return card;
  }

  function addBar() {
    var kind = select(KINDS.map(function (k) { return [k, L["node_" + k]]; }), "wait", function () {}, "add-kind");
    var add = el("button", { type: "button", "class": "btn small", id: "journey-add-node" }, [L.journey_add_node]);
    add.addEventListener("click", function () {
      var id = freshId(kind.value);
      def.nodes[id] = blank(kind.value);
      if (!def.start) def.start = id;
      structure();
      var card = document.getElementById("node-" + id);
      if (card) card.scrollIntoView({ block: "center" });
    });
    return el("div", { "class": "add-node inline" }, [kind, add]);
  }

  // The nodes in the order a customer meets them from the start, then those no path reaches.
  function orderedIds() {
    var seen = {}, order = [], queue = [def.start];
    while (queue.length) {
      var id = queue.shift();
      var n = def.nodes[id];
      if (!n || seen[id]) continue;
      seen[id] = true;
      order.push(id);
      ["next", "yes", "no", "timeout_next"].forEach(function (k) { if (n[k]) queue.push(n[k]); });
      (n.arms || []).forEach(function (arm) { if (arm.next) queue.push(arm.next); });
    }
    Object.keys(def.nodes).forEach(function (id) { if (!seen[id]) order.push(id); });
    return order;
  }

  function draw() {
    previews.forEach(function (p) { p.stop(); });
    editor.innerHTML = "";
    previews = [];
    def.nodes = def.nodes || {};
    editor.appendChild(triggerCard());
    editor.appendChild(settingsCard());
    editor.appendChild(el("h3", {}, [L.journey_nodes]));
    var list = el("div", { "class": "jcards", id: "journey-nodes" });
    orderedIds().forEach(function (id) { list.appendChild(nodeCard(id)); });
    editor.appendChild(list);
    if (!READONLY) editor.appendChild(addBar());
    // A redrawn send node (a saved template chosen) shows its preview again.
    previews.forEach(function (p) { p.run(); });
  }

  // ---- syncing and checking ----

  function changed() {
    // While the text holds what the forms cannot show, the text wins: nothing typed there is lost.
    if (jsonBroken) return;
    text.value = JSON.stringify(def, null, 2);
    jsonError.hidden = true;
    check();
  }

  function structure() { changed(); draw(); }

  var timer = null, sequence = 0;
  function check() {
    if (READONLY) return;
    clearTimeout(timer);
    timer = setTimeout(function () {
      var mine = ++sequence;
      var body = new URLSearchParams({ _csrf: csrf, definition: text.value, id: CONFIG.id || "" });
      fetch("/journeys/check", { method: "POST", body: body, credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (answer) { if (mine === sequence) show(answer); })
        .catch(function () {});
    }, 300);
  }

  function show(answer) {
    if (answer.graph !== undefined) graph.innerHTML = answer.graph;
    var problems = answer.problems || [];
    problemsBox.innerHTML = "";
    editor.querySelectorAll(".jcard").forEach(function (card) { card.classList.remove("problem"); });
    editor.querySelectorAll(".card-problems").forEach(function (list) { list.innerHTML = ""; });
    if (!problems.length) {
      problemsBox.appendChild(el("p", { "class": "ok", id: "journey-ready" }, [L.journey_no_problems]));
      return;
    }
    problemsBox.appendChild(el("p", { "class": "errors" }, [el("b", {}, [L.journey_problems])]));
    var list = el("ul", { "class": "errors", id: "journey-errors" });
    problems.forEach(function (p) {
      list.appendChild(el("li", { "data-field": p.field, "data-node": p.node || "" }, [el("b", {}, [p.label]), ": " + p.reason]));
      var card = p.node ? document.getElementById("node-" + p.node) : null;
      if (!card && /^definition\.trigger/.test(p.field)) card = document.getElementById("journey-trigger");
      if (card) {
        card.classList.add("problem");
        var own = card.querySelector(".card-problems");
        if (own) own.appendChild(el("li", {}, [p.reason]));
      }
    });
    problemsBox.appendChild(list);
  }

  // Draws `candidate` and makes it the definition; false (the forms left as they were) when it
  // cannot be drawn.
  function adopt(candidate) {
    var previous = def;
    try {
      if (!candidate || typeof candidate !== "object" || Array.isArray(candidate)) throw new Error("not an object");
      def = candidate;
      draw();
      return true;
    } catch (e) {
      def = previous;
      try { draw(); } catch (ignored) { editor.innerHTML = ""; }
      jsonError.hidden = false;
      jsonError.textContent = e.message;
      return false;
    }
  }

  text.addEventListener("input", function () {
    var candidate;
    try {
      candidate = JSON.parse(text.value);
    } catch (e) {
      jsonBroken = true;
      editor.inert = true;
      jsonError.hidden = false;
      jsonError.textContent = e.message;
      check();
      return;
    }
    jsonBroken = !adopt(candidate);
    editor.inert = jsonBroken;
    if (!jsonBroken) jsonError.hidden = true;
    check();
  });

  // A box of the graph leads to its form.
  graph.addEventListener("click", function (event) {
    var box = event.target.closest ? event.target.closest("[data-node]") : null;
    if (!box) return;
    var card = document.getElementById("node-" + box.getAttribute("data-node"));
    if (card) { card.scrollIntoView({ block: "center" }); card.classList.add("focus"); setTimeout(function () { card.classList.remove("focus"); }, 1200); }
  });

  if (previewCustomer) previewCustomer.addEventListener("input", function () { previews.forEach(function (p) { p.run(); }); });
  var first;
  try { first = JSON.parse(text.value); } catch (e) { first = null; }
  def = { trigger: { type: "api" }, start: "", nodes: {} };
  if (!adopt(first)) {
    // What the server sent back does not parse (a refused save keeps the text as typed).
    jsonBroken = true;
    editor.inert = true;
  }
  var details = document.getElementById("journey-json");
  if (details && !jsonBroken) details.open = false;
  // The server's answer shows the problems at first; marking the cards needs the same answer.
  if (!READONLY) check();
})();
