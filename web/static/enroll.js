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
  const isPush = serial.startsWith("RMP-");
  if (isPush) {
    $("askotp").hidden = true;
    $("askpush").hidden = false;
    if (!matchMedia("(pointer: coarse)").matches) {
      $("pageqr").src = "/enroll/qr?serial=" + encodeURIComponent(serial);
      $("desktop").hidden = false;
    }
  }

  // activated waits for the worker of reg (whose scope, /app/, is not
  // this page's) to be active.
  function activated(reg) {
    if (reg.active) return Promise.resolve();
    const w = reg.installing || reg.waiting;
    return new Promise((resolve) => {
      w.addEventListener("statechange", () => {
        if (w.state === "activated") resolve();
      });
      setTimeout(resolve, 10000);
    });
  }

  // enrollHere sets the web authenticator up on this device, from the tap
  // on Continue (browsers ask for notification permission only then).
  async function enrollHere(code) {
    let sub = null;
    if ("serviceWorker" in navigator) {
      const reg = await navigator.serviceWorker.register("/app/sw.js", { scope: "/app/" });
      if ("Notification" in self && Notification.permission === "default") {
        await Notification.requestPermission();
      }
      await activated(reg);
      sub = await radmfa.subscribe(reg);
    }
    const rec = await radmfa.enrollPush(serial, code, sub);
    try {
      await radmfa.registerOwner(rec);
    } catch (e) {
      // Not registered: approvals that need the owner's verification will
      // say so; everything else works.
    }
    location.href = "/app/";
  }

  $("form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (isPush) {
      $("submit").disabled = true;
      $("error").hidden = true;
      try {
        await enrollHere($("code").value);
      } catch (e) {
        $("error").textContent = e.status === 403 ? "This activation code is wrong, used or expired; ask your administrator for a new enrollment." : e.message;
        $("error").hidden = false;
        $("submit").disabled = false;
      }
      return;
    }
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
