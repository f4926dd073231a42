// radmfa web authenticator's service worker: shows a push as a
// notification with Approve and Deny, answers from the notification (signed
// with the key in IndexedDB), and opens the app for everything else (a
// number to pick). The push message holds only the request id.
"use strict";
importScripts("/app/lib.js");

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (ev) => ev.waitUntil(self.clients.claim()));

self.addEventListener("push", (ev) => {
  let msg = {};
  try {
    msg = ev.data ? ev.data.json() : {};
  } catch (e) {
    msg = {};
  }
  ev.waitUntil(
    self.registration.showNotification(msg.title || "Login request", {
      body: msg.body || "Tap to review and approve or deny.",
      tag: msg.id || "radmfa",
      data: { id: msg.id || "" },
      requireInteraction: true,
      actions: [
        { action: "approve", title: "Approve" },
        { action: "deny", title: "Deny" },
      ],
    }).then(() => notifyClients({ type: "push", id: msg.id }))
  );
});

async function notifyClients(m) {
  const all = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  all.forEach((c) => c.postMessage(m));
}

// answerFromNotification answers without opening the app, unless the
// request wants a number picked.
async function answerFromNotification(id, decision) {
  const tokens = await self.radmfa.listTokens();
  for (const rec of tokens) {
    const reqs = await self.radmfa.pending(rec).catch(() => []);
    const r = reqs.find((x) => x.id === id);
    if (!r) continue;
    // A number to pick, or the owner's verification: in the app.
    if (decision === "approve" && ((r.numbers && r.numbers.length) || r.user_verification)) return false;
    await self.radmfa.answer(rec, id, decision);
    await notifyClients({ type: "answered", id: id, decision: decision });
    return true;
  }
  return true; // nothing pending: answered elsewhere or expired
}

self.addEventListener("notificationclick", (ev) => {
  ev.notification.close();
  const id = (ev.notification.data || {}).id || "";
  const open = () => self.clients.openWindow("/app/#" + encodeURIComponent(id));
  if (ev.action === "approve" || ev.action === "deny") {
    ev.waitUntil(answerFromNotification(id, ev.action).then((done) => (done ? null : open())));
    return;
  }
  ev.waitUntil(open());
});
