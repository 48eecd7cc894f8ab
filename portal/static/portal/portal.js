// EZSCALE portal: the few behaviours the pages need, driven by data-attributes (the CSP forbids inline scripts).
//   <button data-menu-toggle aria-controls="nav">   opens and closes the phone menu
//   <form data-confirm="Restart the server now?">  asks before submitting (shut down, restart, reinstall, remove)
//   <div data-poll="/url/" data-poll-interval="5">  replaces its content with the URL's HTML every N seconds
//                                                   (stops once the answer carries data-poll-done)
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var toggle = event.target.closest("[data-menu-toggle]");
    if (!toggle) return;
    var nav = document.getElementById(toggle.getAttribute("aria-controls"));
    if (!nav) return;
    var open = nav.classList.toggle("open");
    toggle.setAttribute("aria-expanded", open ? "true" : "false");
  });
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var message = form.getAttribute("data-confirm") ||
      (event.submitter && event.submitter.getAttribute("data-confirm"));
    if (message && !window.confirm(message)) event.preventDefault();
  });
  function poll(element) {
    var url = element.getAttribute("data-poll");
    var seconds = parseInt(element.getAttribute("data-poll-interval") || "5", 10);
    window.setTimeout(function () {
      fetch(url, { headers: { "X-Requested-With": "fetch" }, credentials: "same-origin" })
        .then(function (response) { return response.ok ? response.text() : null; })
        .then(function (html) {
          if (html !== null) element.innerHTML = html;
          if (!element.querySelector("[data-poll-done]")) poll(element);
        })
        .catch(function () { poll(element); });
    }, seconds * 1000);
  }
  document.querySelectorAll("[data-poll]").forEach(poll);
})();
