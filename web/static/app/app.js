// radmfa web authenticator: the token's current code, the login requests
// waiting for an answer (approve, deny, deny and report fraud, or the
// number to pick), and the history. It polls while it is open; a push
// wakes it sooner.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  let tokens = [];
  let registration = null;

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v);
    }
    children.forEach((c) => e.append(c));
    return e;
  }
  function when(ms) {
    return new Date(ms).toLocaleString();
  }

  async function showCodes() {
    const box = $("tokens");
    box.textContent = "";
    for (const rec of tokens) {
      const code = await radmfa.totp(rec);
      const left = rec.period - (Math.floor(Date.now() / 1000) % rec.period);
      box.append(
        el("section", { class: "token" },
          el("div", { class: "who" }, rec.user + " · " + rec.issuer + " · " + rec.serial),
          el("div", { class: "code", "data-serial": rec.serial }, code.replace(/(\d{3})(?=\d)/g, "$1 ")),
          el("div", { class: "left" }, "changes in " + left + " s"))
      );
    }
  }

  async function answer(rec, r, decision, number) {
    const id = r.id;
    $("status").textContent = "";
    try {
      const res = decision === "approve" ? await radmfa.approve(rec, r, number) : await radmfa.answer(rec, id, decision, number);
      $("status").textContent = decision === "approve" ? "Approved." : decision === "fraud" ? "Denied and reported." : "Denied.";
      if (res.result && res.result !== "approved" && decision === "approve") $("status").textContent = "Answer: " + res.result;
    } catch (e) {
      $("status").textContent = "The answer did not go through: " + e.message;
    }
    refresh();
  }

  // shown is what the pending list shows now: it is drawn again only when
  // that changes, so that a button never moves under a finger.
  let shown = "";

  async function showPending() {
    const list = $("pending");
    const items = [];
    const keys = [];
    for (const rec of tokens) {
      let reqs = [];
      try {
        reqs = await radmfa.pending(rec);
      } catch (e) {
        $("status").textContent = "Cannot reach the server: " + e.message;
        continue;
      }
      for (const r of reqs) {
        keys.push(r.id + ":" + (r.numbers || []).join(","));
        const where = [r.client, r.nas_identifier, r.nas_ip_address].filter(Boolean).join(", ");
        const li = el("li", { class: "request", "data-id": r.id },
          el("div", { class: "what" }, "Login for " + r.user + " at " + when(r.created)),
          el("div", { class: "where" }, "From " + (r.calling_station || "an unknown address") + " via " + where),
          r.location ? el("div", { class: "location" }, r.location) : "",
          r.user_verification ? el("div", { class: "uv" }, "Approving asks you to unlock (fingerprint, face or screen lock).") : "");
        const buttons = el("div", { class: "buttons" });
        if (r.numbers && r.numbers.length) {
          buttons.append(el("div", { class: "pick" }, "Pick the number your login screen shows:"));
          r.numbers.forEach((n) =>
            buttons.append(el("button", { class: "number", "data-number": String(n), onclick: () => answer(rec, r, "approve", n) }, String(n))));
        } else {
          buttons.append(el("button", { class: "approve", onclick: () => answer(rec, r, "approve") }, "Approve"));
        }
        buttons.append(el("button", { class: "deny", onclick: () => answer(rec, r, "deny") }, "Deny"));
        buttons.append(el("button", { class: "fraud", onclick: () => answer(rec, r, "fraud") }, "Deny and report fraud"));
        li.append(buttons);
        items.push(li);
      }
    }
    const now = keys.join("|");
    if (now !== shown) {
      shown = now;
      list.replaceChildren(...items);
    }
    $("nopending").hidden = items.length > 0;
  }

  async function showHistory() {
    const items = [];
    for (const rec of tokens) {
      try {
        const entries = await radmfa.history(rec);
        entries.slice(-20).reverse().forEach((h) => items.push(el("li", {}, when(h.time) + " — " + h.result + (h.details ? " (" + h.details + ")" : ""))));
      } catch (e) {
        // shown by showPending
      }
    }
    $("history").replaceChildren(...items);
  }

  async function refresh() {
    tokens = await radmfa.listTokens();
    $("none").hidden = tokens.length > 0;
    await showCodes();
    await showPending();
    await showHistory();
    $("notify").hidden = !("Notification" in self) || Notification.permission === "granted" || tokens.length === 0;
    // A device whose owner's verification was not registered at
    // enrollment (a browser that wanted a fresh tap) can add it here.
    const canVerify = self.PublicKeyCredential && PublicKeyCredential.isUserVerifyingPlatformAuthenticatorAvailable &&
      (await PublicKeyCredential.isUserVerifyingPlatformAuthenticatorAvailable());
    $("verify").hidden = !canVerify || tokens.every((t) => t.credentialId);
  }

  $("setupuv").addEventListener("click", async () => {
    $("status").textContent = "";
    for (const rec of tokens) {
      if (rec.credentialId) continue;
      try {
        if (await radmfa.registerOwner(rec)) $("status").textContent = "Fingerprint or face set up.";
        else $("status").textContent = "This server or device does not offer it.";
      } catch (e) {
        $("status").textContent = "Could not set it up: " + e.message;
      }
    }
    refresh();
  });

  $("enable").addEventListener("click", async () => {
    // Permission is asked from a tap, as iOS requires.
    if ((await Notification.requestPermission()) !== "granted") return;
    const sub = registration ? await radmfa.subscribe(registration) : null;
    for (const rec of tokens) {
      try {
        await radmfa.updateDevice(rec, sub);
        rec.pushEnabled = !!sub;
        await radmfa.saveToken(rec);
      } catch (e) {
        $("status").textContent = "Could not turn on notifications: " + e.message;
      }
    }
    refresh();
  });

  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/app/sw.js", { scope: "/app/" }).then((r) => (registration = r)).catch(() => {});
    navigator.serviceWorker.addEventListener("message", () => refresh());
  }
  refresh();
  setInterval(() => {
    if (document.visibilityState === "visible") refresh();
  }, 2000);
  setInterval(showCodes, 1000);
})();
