// Stripe 3-D Secure on the order page. Everything comes from data- attributes (no inline script).
(function () {
  "use strict";
  var button = document.getElementById("stripe-confirm");
  if (!button || typeof Stripe === "undefined") { return; }
  var stripe = Stripe(button.dataset.publishableKey);
  var clientSecret = button.dataset.clientSecret;
  var returnUrl = button.dataset.returnUrl;
  var showError = function (e) { document.getElementById("payment-error").textContent = e.message; button.disabled = false; };
  if (button.dataset.newMethod) {
    var elements = stripe.elements({clientSecret: clientSecret});
    elements.create("payment").mount("#payment-element");
    button.addEventListener("click", function () {
      button.disabled = true;
      stripe.confirmPayment({elements: elements, confirmParams: {return_url: returnUrl}}).then(function (r) { if (r.error) { showError(r.error); } });
    });
  } else {
    button.addEventListener("click", function () {
      button.disabled = true;
      stripe.confirmCardPayment(clientSecret, {return_url: returnUrl}).then(function (r) {
        if (r.error) { showError(r.error); return; }
        window.location = returnUrl + "&payment_intent=" + encodeURIComponent(r.paymentIntent.id);
      });
    });
  }
})();
