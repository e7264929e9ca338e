// siyu segment builder: condition rows and the segment language kept in sync, and the live size.
// The rows edit an "all of" / "any of" list whose items are conditions or nested groups (each group
// with its own all/any and an optional "not"); each change writes the definition's text, and each
// edit of the text is sent to /segments/preview, whose answer (size, canonical text, JSON tree,
// warnings or an error with line and column) redraws the rows when they can show the tree.
(function () {
  "use strict";
  var text = document.getElementById("segment-text");
  var builder = document.getElementById("builder");
  if (!text || !builder) return;
  var size = document.getElementById("segment-live-size");
  var error = document.getElementById("segment-live-error");
  var warnings = document.getElementById("segment-warnings");
  // Row kinds, placeholders and fixed choices in the page's language (see console/segments.rs).
  var CONFIG = JSON.parse(builder.getAttribute("data-config") || "{}");
  var KINDS = CONFIG.kinds || [];
  var PH = CONFIG.placeholders || {};
  var CHOICES = CONFIG.choices || {};
  var OPS = ["=", "!=", ">", ">=", "<", "<="];

  function quote(s) { return "\"" + String(s).replace(/\\/g, "\\\\").replace(/"/g, "\\\"") + "\""; }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    (children || []).forEach(function (c) { node.appendChild(typeof c === "string" ? document.createTextNode(c) : c); });
    return node;
  }

  function select(options, value, cls) {
    var s = el("select", { "class": cls });
    options.forEach(function (o) {
      var opt = el("option", { value: o[0] }, [o[1]]);
      if (o[0] === value) opt.selected = true;
      s.appendChild(opt);
    });
    return s;
  }

  // The fields each kind shows: a (name, event or a choice), op, b (value or count), c (window).
  // A field the kind does not use is not drawn at all.
  var FIELDS = {
    tag: { a: ["text", "tag"] },
    segment: { a: ["text", "segment"] },
    identity: { a: ["choice", "identity"] },
    consent: { a: ["choice", "purpose"], b: ["choice", "channel"] },
    trait: { a: ["text", "trait"], op: true, b: ["text", "value"] },
    lifecycle: { op: true, a: ["choice", "lifecycle"] },
    tier: { op: true, a: ["choice", "tier"] },
    rfm: { op: true, a: ["choice", "rfm"] },
    health: { op: true, b: ["text", "health"] },
    did: { a: ["text", "event"], op: true, b: ["text", "count"], c: ["text", "window"] },
    not_did: { a: ["text", "event"], c: ["text", "window"] }
  };

  function field(cls, spec, value) {
    if (spec[0] === "choice") {
      var options = CHOICES[spec[1]] || [];
      return select(options, value || (options[0] || [""])[0], cls);
    }
    return el("input", { "class": cls, value: value || "", placeholder: PH[spec[1]] || "" });
  }

  // A row: kind, then only the fields the kind uses; changing the kind redraws the row.
  function row(r) {
    var kind = select(KINDS, r.kind, "kind");
    var spec = FIELDS[r.kind] || FIELDS.tag;
    var parts = [kind];
    if (spec.op && spec.a && spec.a[0] === "choice") parts.push(select([["=", "="], ["!=", "!="]], r.op || "=", "op"));
    if (spec.a) parts.push(field("a", spec.a, r.a));
    if (spec.op && !(spec.a && spec.a[0] === "choice")) parts.push(select(OPS.map(function (o) { return [o, o]; }), r.op || (r.kind === "did" ? ">=" : "="), "op"));
    if (spec.b) parts.push(field("b", spec.b, r.b));
    if (spec.c) parts.push(field("c", spec.c, r.c));
    var remove = el("button", { type: "button", "class": "btn remove", "aria-label": CONFIG.remove || "×", title: CONFIG.remove || "" }, ["×"]);
    parts.push(remove);
    var li = el("li", { "class": "condition" }, parts);
    remove.addEventListener("click", function () { li.remove(); fromRows(); });
    kind.addEventListener("change", function () {
      var fresh = row({ kind: kind.value });
      li.replaceWith(fresh);
      fromRows();
    });
    parts.slice(1, -1).forEach(function (input) { input.addEventListener("input", fromRows); input.addEventListener("change", fromRows); });
    return li;
  }

  // A group: all/any, its items (li.condition rows and li.subgroup groups), and buttons to add
  // either; nested groups can be negated and removed.
  function group(root) {
    var box = el("div", { "class": root ? "group root" : "group" });
    var joiner = select([["and", builder.getAttribute("data-all")], ["or", builder.getAttribute("data-any")]], "and", "joiner");
    var items = el("ul", root ? { "class": "conditions", id: "builder-rows" } : { "class": "conditions" });
    var add = el("button", root ? { type: "button", "class": "btn", id: "builder-add" } : { type: "button", "class": "btn add" }, [builder.getAttribute("data-add")]);
    var addGroup = el("button", root ? { type: "button", "class": "btn", id: "builder-add-group" } : { type: "button", "class": "btn add-group" }, [builder.getAttribute("data-add-group")]);
    var head = el("div", { "class": "group-head" }, [joiner]);
    if (!root) {
      var negate = el("input", { type: "checkbox", "class": "negate" });
      negate.addEventListener("change", fromRows);
      head.insertBefore(el("label", { "class": "negate-label" }, [negate, " " + builder.getAttribute("data-not")]), joiner);
    }
    box.appendChild(head);
    box.appendChild(items);
    box.appendChild(el("div", { "class": "group-actions" }, [add, addGroup]));
    add.addEventListener("click", function () { items.appendChild(row({ kind: "tag" })); });
    addGroup.addEventListener("click", function () { items.appendChild(subgroup()); fromRows(); });
    joiner.addEventListener("change", fromRows);
    return box;
  }

  function subgroup() {
    var inner = group(false);
    var remove = el("button", { type: "button", "class": "btn remove", "aria-label": CONFIG.remove || "×" }, ["×"]);
    var li = el("li", { "class": "subgroup" }, [inner, remove]);
    remove.addEventListener("click", function () { li.remove(); fromRows(); });
    inner.querySelector(".conditions").appendChild(row({ kind: "tag" }));
    return li;
  }

  var top = group(true);
  var advanced = el("p", { "class": "muted", id: "builder-advanced", hidden: "" }, [builder.getAttribute("data-advanced")]);
  builder.appendChild(top);
  builder.appendChild(advanced);

  function value(v) { return v !== "" && !isNaN(Number(v)) ? v : quote(v); }

  function rowText(li) {
    var get = function (cls) { var f = li.querySelector("." + cls); return f ? f.value.trim() : ""; };
    var kind = get("kind"), a = get("a"), op = get("op"), b = get("b"), c = get("c");
    switch (kind) {
      case "tag": return "tag(" + quote(a) + ")";
      case "segment": return "segment(" + quote(a) + ")";
      case "identity": return "has_identity(" + quote(a) + ")";
      case "consent": return "consent(" + quote(a) + ", " + quote(b) + ")";
      case "trait": return "trait." + (/^[A-Za-z_][A-Za-z0-9_]*$/.test(a) ? a : quote(a)) + " " + op + " " + value(b);
      case "lifecycle": case "tier": return kind + " " + op + " " + quote(a);
      case "rfm": return "rfm.class " + op + " " + quote(a);
      case "health": return "health " + op + " " + b;
      case "did": case "not_did":
        var parts = [quote(a)];
        if (b && kind === "did") parts.push("count " + op + " " + b);
        if (c) parts.push("within " + c);
        return (kind === "not_did" ? "not " : "") + "did(" + parts.join(", ") + ")";
    }
    return "";
  }

  // The text of a group: its conditions and nested groups (in parentheses) joined by its joiner.
  function groupText(box) {
    var joiner = box.querySelector(":scope > .group-head > .joiner").value;
    var parts = Array.prototype.map.call(box.querySelectorAll(":scope > .conditions > li"), function (li) {
      if (li.classList.contains("condition")) return rowText(li);
      var inner = li.querySelector(":scope > .group");
      var t = groupText(inner);
      if (!t) return "";
      var negated = inner.querySelector(":scope > .group-head .negate").checked;
      return (negated ? "not " : "") + "(" + t + ")";
    }).filter(Boolean);
    return parts.join(" " + joiner + " ");
  }

  function fromRows() {
    text.value = groupText(top);
    preview();
  }

  // Fills a group's items from a JSON tree; false if the rows cannot show some part of it.
  function fill(box, tree) {
    var items = tree.and || tree.or || [tree];
    var list = box.querySelector(":scope > .conditions");
    var rows = [];
    for (var i = 0; i < items.length; i++) {
      var t = items[i], negated = false;
      if (t.not && (t.not.and || t.not.or)) { t = t.not; negated = true; }
      if (t.and || t.or) {
        var li = subgroup();
        var inner = li.querySelector(":scope > .group");
        inner.querySelector(":scope > .conditions").innerHTML = "";
        inner.querySelector(":scope > .group-head .negate").checked = negated;
        if (!fill(inner, t)) return false;
        rows.push(li);
        continue;
      }
      if (t.not && t.not.did) { t = t.not; negated = true; }
      var r = leafRow(t, negated);
      if (!r) return false;
      rows.push(row(r));
    }
    box.querySelector(":scope > .group-head > .joiner").value = tree.or ? "or" : "and";
    list.innerHTML = "";
    rows.forEach(function (li) { list.appendChild(li); });
    return true;
  }

  // A row for one condition, or null if a row cannot show it.
  function leafRow(t, negated) {
    if (negated && !t.did) return null;
    if (t.tag !== undefined) return { kind: "tag", a: t.tag };
    if (t.segment !== undefined) return { kind: "segment", a: t.segment };
    if (t.has_identity !== undefined) return { kind: "identity", a: t.has_identity };
    if (t.consent) return { kind: "consent", a: t.consent.purpose, b: t.consent.channel };
    if (t.trait && OPS.indexOf(t.trait.op) >= 0 && typeof t.trait.value !== "object") return { kind: "trait", a: t.trait.name, op: t.trait.op, b: String(t.trait.value) };
    if (t.model && OPS.indexOf(t.model.op) >= 0 && typeof t.model.value !== "object") {
      var kind = { "lifecycle": "lifecycle", "tier": "tier", "rfm.class": "rfm", "health": "health" }[t.model.field];
      if (!kind) return null;
      return { kind: kind, a: kind === "health" ? "" : String(t.model.value), op: t.model.op, b: kind === "health" ? String(t.model.value) : "" };
    }
    if (t.did && !t.did.between && !t.did.sum && !t.did.avg && !t.did.first && !t.did.last && !t.did.where && !(negated && t.did.count)) {
      return { kind: negated ? "not_did" : "did", a: t.did.event, op: t.did.count ? t.did.count.op : ">=", b: t.did.count ? String(t.did.count.value) : "", c: t.did.within || "" };
    }
    return null;
  }

  function toRows(tree) { return fill(top, tree); }

  var timer = null, sequence = 0;
  function preview() {
    clearTimeout(timer);
    timer = setTimeout(function () {
      var mine = ++sequence;
      if (!text.value.trim()) return;
      fetch("/segments/preview?text=" + encodeURIComponent(text.value), { credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (answer) {
          if (mine !== sequence) return;
          if (answer.error) {
            error.hidden = false;
            error.textContent = answer.error.reason;
            size.textContent = "–";
            return;
          }
          error.hidden = true;
          size.textContent = answer.size;
          warnings.innerHTML = "";
          answer.warnings.forEach(function (w) { warnings.appendChild(el("li", {}, [w])); });
          warnings.hidden = answer.warnings.length === 0;
          if (document.activeElement === text) advanced.hidden = toRows(answer.definition);
        })
        .catch(function () {});
    }, 250);
  }

  text.addEventListener("input", preview);
  if (text.value.trim()) {
    fetch("/segments/preview?text=" + encodeURIComponent(text.value), { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (answer) { if (answer.definition) advanced.hidden = toRows(answer.definition); })
      .catch(function () {});
  }
})();
