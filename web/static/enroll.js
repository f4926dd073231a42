// The self-enrollment page: posts the activation code for the serial in
// the link, then shows the new token's QR code and key, once.
"use strict";
(function () {
  const serial = new URLSearchParams(location.search).get("serial");
  const $ = (id) => document.getElementById(id);
  if (!serial) {
    $("ask").hidden = true;
    $("missing").hidden = false;
    return;
  }
  $("form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    $("submit").disabled = true;
    $("error").hidden = true;
    try {
      const resp = await fetch("/v1/self-enroll", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ serial: serial, code: $("code").value }),
      });
      const body = await resp.json();
      if (!resp.ok) {
        throw new Error(body.error || "the enrollment failed");
      }
      $("qr").src = body.qr;
      $("secret").textContent = body.secret;
      $("serial").textContent = body.serial;
      $("user").textContent = body.user;
      $("ask").hidden = true;
      $("done").hidden = false;
    } catch (e) {
      $("error").textContent = e.message;
      $("error").hidden = false;
      $("submit").disabled = false;
    }
  });
})();
