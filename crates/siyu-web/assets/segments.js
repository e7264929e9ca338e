// siyu segment builder: condition rows and the segment language kept in sync, and the live size.
// The rows edit a flat "all of" / "any of" list; each change writes the definition's text, and each
// edit of the text is sent to /segments/preview, whose answer (size, canonical text, JSON tree,
// warnings or an error with line and column) redraws the rows when the tree is flat.
(function () {
  "use strict";
  var text = document.getElementById("segment-text");
  var builder = document.getElementById("builder");
  if (!text || !builder) return;
  var size = document.getElementById("segment-live-size");
  var error = document.getElementById("segment-live-error");
  var warnings = document.getElementById("segment-warnings");
  var KINDS = [
    ["tag", "tag"], ["trait", "trait"], ["did", "did"], ["not_did", "not did"], ["lifecycle", "lifecycle"],
    ["tier", "tier"], ["rfm", "rfm.class"], ["health", "health"], ["consent", "consent"], ["identity", "has_identity"],
    ["segment", "segment"]
  ];
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

  // A row: kind, then fields as the kind needs (a: name/event, op, b: value, c: window).
  function row(r) {
    var kind = select(KINDS, r.kind, "kind");
    var a = el("input", { "class": "a", value: r.a || "", placeholder: "VIP / city / Order Completed" });
    var op = select(OPS.map(function (o) { return [o, o]; }), r.op || "=", "op");
    var b = el("input", { "class": "b", value: r.b || "", placeholder: "value / count" });
    var c = el("input", { "class": "c", value: r.c || "", placeholder: "30d" });
    var remove = el("button", { type: "button", "class": "btn remove", "aria-label": "remove" }, ["×"]);
    var li = el("li", { "class": "condition" }, [kind, a, op, b, c, remove]);
    remove.addEventListener("click", function () { li.remove(); fromRows(); });
    [kind, a, op, b, c].forEach(function (input) { input.addEventListener("input", fromRows); input.addEventListener("change", fromRows); });
    return li;
  }

  var list = el("ul", { "class": "conditions", id: "builder-rows" });
  var joiner = select([["and", builder.getAttribute("data-all")], ["or", builder.getAttribute("data-any")]], "and", "joiner");
  var add = el("button", { type: "button", "class": "btn", id: "builder-add" }, [builder.getAttribute("data-add")]);
  var advanced = el("p", { "class": "muted", id: "builder-advanced", hidden: "" }, [builder.getAttribute("data-advanced")]);
  builder.appendChild(joiner);
  builder.appendChild(list);
  builder.appendChild(add);
  builder.appendChild(advanced);
  add.addEventListener("click", function () { list.appendChild(row({ kind: "tag" })); });
  joiner.addEventListener("change", fromRows);

  function value(v) { return v !== "" && !isNaN(Number(v)) ? v : quote(v); }

  function rowText(li) {
    var get = function (cls) { return li.querySelector("." + cls).value.trim(); };
    var kind = get("kind"), a = get("a"), op = get("op"), b = get("b"), c = get("c");
    switch (kind) {
      case "tag": return "tag(" + quote(a) + ")";
      case "segment": return "segment(" + quote(a) + ")";
      case "identity": return "has_identity(" + quote(a) + ")";
      case "consent": return "consent(" + quote(a) + ", " + quote(b) + ")";
      case "trait": return "trait." + (/^[A-Za-z_][A-Za-z0-9_]*$/.test(a) ? a : quote(a)) + " " + op + " " + value(b);
      case "lifecycle": case "tier": return kind + " " + op + " " + quote(a || b);
      case "rfm": return "rfm.class " + op + " " + quote(a || b);
      case "health": return "health " + op + " " + (b || a);
      case "did": case "not_did":
        var parts = [quote(a)];
        if (b) parts.push("count " + op + " " + b);
        if (c) parts.push("within " + c);
        return (kind === "not_did" ? "not " : "") + "did(" + parts.join(", ") + ")";
    }
    return "";
  }

  function fromRows() {
    var parts = Array.prototype.map.call(list.querySelectorAll("li.condition"), rowText).filter(Boolean);
    text.value = parts.join(" " + joiner.value + " ");
    preview();
  }

  // Rows from a JSON tree when it is a flat list of leaves the rows can show; false otherwise.
  function toRows(tree) {
    var items = tree.and || tree.or || [tree];
    var rows = [];
    for (var i = 0; i < items.length; i++) {
      var t = items[i], negated = false;
      if (t.not && t.not.did) { t = t.not; negated = true; }
      if (t.tag !== undefined) rows.push({ kind: "tag", a: t.tag });
      else if (t.segment !== undefined) rows.push({ kind: "segment", a: t.segment });
      else if (t.has_identity !== undefined) rows.push({ kind: "identity", a: t.has_identity });
      else if (t.consent) rows.push({ kind: "consent", a: t.consent.purpose, b: t.consent.channel });
      else if (t.trait && OPS.indexOf(t.trait.op) >= 0 && typeof t.trait.value !== "object") rows.push({ kind: "trait", a: t.trait.name, op: t.trait.op, b: String(t.trait.value) });
      else if (t.model && OPS.indexOf(t.model.op) >= 0 && typeof t.model.value !== "object") {
        var kind = { "lifecycle": "lifecycle", "tier": "tier", "rfm.class": "rfm", "health": "health" }[t.model.field];
        if (!kind) return false;
        rows.push({ kind: kind, a: kind === "health" ? "" : String(t.model.value), op: t.model.op, b: kind === "health" ? String(t.model.value) : "" });
      } else if (t.did && !t.did.between && !t.did.sum && !t.did.avg && !t.did.first && !t.did.last && !t.did.where) {
        rows.push({ kind: negated ? "not_did" : "did", a: t.did.event, op: t.did.count ? t.did.count.op : ">=", b: t.did.count ? String(t.did.count.value) : "", c: t.did.within || "" });
      } else return false;
    }
    joiner.value = tree.or ? "or" : "and";
    list.innerHTML = "";
    rows.forEach(function (r) { list.appendChild(row(r)); });
    return true;
  }

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
