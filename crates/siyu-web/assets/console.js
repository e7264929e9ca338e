// siyu console: small progressive enhancements; every page also works without JavaScript.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  // The workspace switcher submits as soon as another workspace is picked.
  document.addEventListener("change", function (event) {
    var select = event.target;
    if (select.matches && select.matches("select[data-autosubmit]") && select.form) {
      select.form.submit();
    }
  });

  // Forms that destroy something (revoking a key) ask first; the question is in the page's language.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  });

  // Copy buttons copy the text of the element their data-copy selector names.
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-copy]") : null;
    if (!button) return;
    var source = document.querySelector(button.getAttribute("data-copy"));
    if (!source || !navigator.clipboard) return;
    navigator.clipboard.writeText(source.textContent.trim()).then(function () {
      button.textContent = button.getAttribute("data-copied") || button.textContent;
    });
  });

  // A template's live preview: the form's text rendered for a chosen customer, in their language
  // or the one picked, by /messages/preview (the same check saving makes, problems in words).
  var templateForm = document.getElementById("template-form");
  var previewPanel = document.getElementById("template-preview");
  if (templateForm && previewPanel) {
    var out = document.getElementById("template-preview-out");
    var customer = document.getElementById("template-preview-customer");
    var language = document.getElementById("template-preview-language");
    var timer = null, sequence = 0;
    var para = function (cls, text) {
      var p = document.createElement("p");
      p.className = cls;
      p.textContent = text;
      return p;
    };
    var run = function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        var mine = ++sequence;
        var data = new FormData(templateForm);
        if (!customer.value.trim()) { out.textContent = previewPanel.getAttribute("data-no-customer"); return; }
        var body = new URLSearchParams({ customer: customer.value.trim(), language: language.value });
        ["_csrf", "subject", "body", "html", "params", "en_subject", "en_body", "en_html"].forEach(function (k) {
          body.set(k, data.get(k) || "");
        });
        fetch("/messages/preview", { method: "POST", body: body, credentials: "same-origin" })
          .then(function (r) { return r.json(); })
          .then(function (answer) {
            if (mine !== sequence) return;
            out.innerHTML = "";
            if (answer.problems) {
              answer.problems.forEach(function (p) { out.appendChild(para("errors", (p.label ? p.label + ": " : "") + p.reason)); });
              return;
            }
            if (answer.subject) out.appendChild(para("subject", answer.subject));
            out.appendChild(para("body", answer.body));
            var length = String(previewPanel.getAttribute("data-sms-length"))
              .replace("{}", answer.sms_characters).replace("{}", answer.sms_messages);
            var masked = answer.masked ? " · " + previewPanel.getAttribute("data-masked") : "";
            out.appendChild(para("muted sms", length + masked));
          })
          .catch(function () {});
      }, 300);
    };
    templateForm.addEventListener("input", run);
    customer.addEventListener("input", run);
    language.addEventListener("change", run);
  }
})();
