// Quivly admin panel: copy buttons and the live verification view. No dependencies.
(function () {
  "use strict";

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    try { document.execCommand("copy"); } finally { document.body.removeChild(area); }
    return Promise.resolve();
  }

  function setUpCopyButtons() {
    document.querySelectorAll("[data-copy]").forEach(function (button) {
      button.addEventListener("click", function () {
        var target = document.getElementById(button.getAttribute("data-copy"));
        if (!target) { return; }
        var label = button.textContent;
        copyText(target.textContent).then(function () {
          button.textContent = "Copied";
        }, function () {
          button.textContent = "Press Ctrl+C";
        }).then(function () {
          setTimeout(function () { button.textContent = label; }, 1500);
        });
      });
    });
  }

  function setUpPolling() {
    var box = document.querySelector("[data-poll-url]");
    if (!box) { return; }
    var url = box.getAttribute("data-poll-url");
    var every = parseInt(box.getAttribute("data-poll-ms") || "2000", 10);
    var timer = null;
    function poll() {
      fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" }, cache: "no-store" })
        .then(function (response) {
          if (response.status === 401) { clearInterval(timer); return null; }
          return response.ok ? response.text() : null;
        })
        .then(function (html) {
          if (html !== null && html !== box.innerHTML) { box.innerHTML = html; }
        })
        .catch(function () { /* next tick retries */ });
    }
    timer = setInterval(poll, every);
  }

  document.addEventListener("DOMContentLoaded", function () {
    setUpCopyButtons();
    setUpPolling();
  });
})();
