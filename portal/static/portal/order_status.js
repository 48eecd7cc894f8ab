// Order page: while a paid order's services are being set up, ask the server every two seconds
// and swap in the status block it renders (no page reload). Stops once every service is settled.
(function () {
  "use strict";
  var INTERVAL_MS = 2000;
  function poll() {
    var block = document.getElementById("order-status");
    if (!block || !block.dataset.polling) { return; }
    fetch(block.dataset.statusUrl, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (data) {
          block.outerHTML = data.html;
          if (data.done) { return; }
        }
        window.setTimeout(poll, INTERVAL_MS);
      })
      .catch(function () { window.setTimeout(poll, INTERVAL_MS * 2); });
  }
  window.setTimeout(poll, INTERVAL_MS);
})();
