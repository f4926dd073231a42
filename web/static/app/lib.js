// radmfa web authenticator: what the app page, the enrollment page and the
// service worker share. A classic script: it defines self.radmfa.
//
// Keys never leave the browser: the signing key (ECDSA P-256) and the OTP
// key (HMAC) are WebCrypto keys made non-extractable and kept in
// IndexedDB; the seed is derived by ECDH with the server (never sent) and
// only lives long enough to become the HMAC key.
"use strict";
(function (g) {
  const enc = new TextEncoder();

  function b64(bytes) {
    let s = "";
    new Uint8Array(bytes).forEach((b) => (s += String.fromCharCode(b)));
    return btoa(s);
  }
  function b64url(bytes) {
    return b64(bytes).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function unb64(s) {
    const bin = atob(s.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(s.length / 4) * 4, "="));
    return Uint8Array.from(bin, (c) => c.charCodeAt(0));
  }
  function concat(...parts) {
    const n = parts.reduce((a, p) => a + p.length, 0);
    const out = new Uint8Array(n);
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }
  function randomHex(n) {
    const b = crypto.getRandomValues(new Uint8Array(n));
    return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  }
  // normalizeCode is an activation code as the server hashes it.
  function normalizeCode(code) {
    return code.toUpperCase().replace(/[\s-]/g, "");
  }

  // IndexedDB: one store of tokens by serial.
  function db() {
    return new Promise((resolve, reject) => {
      const req = indexedDB.open("radmfa", 1);
      req.onupgradeneeded = () => req.result.createObjectStore("tokens", { keyPath: "serial" });
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
  }
  async function tx(mode, fn) {
    const d = await db();
    return new Promise((resolve, reject) => {
      const t = d.transaction("tokens", mode);
      const r = fn(t.objectStore("tokens"));
      t.oncomplete = () => resolve(r && r.result);
      t.onerror = () => reject(t.error);
    });
  }
  const saveToken = (rec) => tx("readwrite", (s) => s.put(rec));
  const listTokens = () => tx("readonly", (s) => s.getAll());
  const deleteToken = (serial) => tx("readwrite", (s) => s.delete(serial));

  async function post(path, body, headers) {
    const resp = await fetch(path, {
      method: "POST",
      headers: Object.assign({ "Content-Type": "application/json" }, headers || {}),
      body: body,
    });
    const text = await resp.text();
    let data = {};
    try {
      data = JSON.parse(text);
    } catch (e) {
      // not JSON
    }
    if (!resp.ok) {
      const err = new Error(data.error || resp.status + " " + resp.statusText);
      err.status = resp.status;
      throw err;
    }
    return data;
  }

  // describeDevice is what the app says it is.
  function describeDevice(notifications) {
    const ua = navigator.userAgent;
    let os = "Web";
    if (/iPhone|iPad/.test(ua)) os = "iOS";
    else if (/Android/.test(ua)) os = "Android";
    else if (/Mac OS X/.test(ua)) os = "macOS";
    else if (/Windows/.test(ua)) os = "Windows";
    else if (/Linux/.test(ua)) os = "Linux";
    const m = ua.match(/(Chrome|Firefox|Safari|Edg)\/(\d+)/);
    return {
      os: os,
      os_version: m ? m[1] + " " + m[2] : "",
      model: "web app",
      app_version: "web-1",
      notifications: !!notifications,
    };
  }

  // enrollPush activates a push token on this browser: new keys, the
  // server's ECDH answer, the seed derived as the server derives it
  // (push.DeriveSeed), and the token kept in IndexedDB.
  async function enrollPush(serial, code, webPush) {
    code = normalizeCode(code);
    const ecdh = await crypto.subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, false, ["deriveBits"]);
    const sign = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign"]);
    const ecdhPub = new Uint8Array(await crypto.subtle.exportKey("raw", ecdh.publicKey));
    const signPub = new Uint8Array(await crypto.subtle.exportKey("raw", sign.publicKey));
    const req = {
      serial: serial,
      code: code,
      ecdh_public: b64(ecdhPub),
      sign_public: b64(signPub),
      device: describeDevice(!!webPush),
    };
    if (webPush) req.web_push = webPush;
    const res = await post("/v1/enroll", JSON.stringify(req));
    const serverPub = unb64(res.ecdh_public);
    const peer = await crypto.subtle.importKey("raw", serverPub, { name: "ECDH", namedCurve: "P-256" }, false, []);
    const shared = await crypto.subtle.deriveBits({ name: "ECDH", public: peer }, ecdh.privateKey, 256);
    const ikm = await crypto.subtle.importKey("raw", shared, "HKDF", false, ["deriveBits"]);
    const salt = await crypto.subtle.digest("SHA-256", enc.encode("radmfa activation\0" + code));
    const info = concat(enc.encode("radmfa push seed v1\0" + serial + "\0"), ecdhPub, serverPub);
    const seed = await crypto.subtle.deriveBits({ name: "HKDF", hash: "SHA-256", salt: salt, info: info }, ikm, 160);
    const hash = { SHA1: "SHA-1", SHA256: "SHA-256", SHA512: "SHA-512" }[res.algorithm] || "SHA-1";
    const otpKey = await crypto.subtle.importKey("raw", seed, { name: "HMAC", hash: hash }, false, ["sign"]);
    const rec = {
      serial: res.serial,
      user: res.user,
      issuer: res.issuer,
      digits: res.digits,
      period: res.period,
      signKey: sign.privateKey,
      otpKey: otpKey,
      pushEnabled: !!webPush,
      enrolled: Date.now(),
    };
    await saveToken(rec);
    return rec;
  }

  // totp is the token's code at time t (ms).
  async function totp(rec, t) {
    const step = Math.floor((t || Date.now()) / 1000 / rec.period);
    const msg = new Uint8Array(8);
    new DataView(msg.buffer).setUint32(0, Math.floor(step / 2 ** 32));
    new DataView(msg.buffer).setUint32(4, step >>> 0);
    const mac = new Uint8Array(await crypto.subtle.sign("HMAC", rec.otpKey, msg));
    const off = mac[mac.length - 1] & 15;
    const bin = ((mac[off] & 127) << 24) | (mac[off + 1] << 16) | (mac[off + 2] << 8) | mac[off + 3];
    return String(bin % 10 ** rec.digits).padStart(rec.digits, "0");
  }

  // call signs a request as the device API wants it: ECDSA P-256 over
  // "radmfa-device-v1\n" + path + "\n" + body.
  async function call(rec, path, fields) {
    const body = JSON.stringify(Object.assign({ serial: rec.serial, time: Date.now(), nonce: randomHex(16) }, fields || {}));
    const sig = await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, rec.signKey, enc.encode("radmfa-device-v1\n" + path + "\n" + body));
    return post(path, body, { "Radmfa-Signature": b64(sig) });
  }
  const pending = async (rec) => (await call(rec, "/v1/pending")).requests || [];
  const history = async (rec) => (await call(rec, "/v1/history")).entries || [];
  const answer = (rec, id, decision, number) => call(rec, "/v1/answer", number ? { id: id, decision: decision, number: number } : { id: id, decision: decision });
  // registerOwner registers a WebAuthn credential of the device's owner
  // (a platform authenticator with user verification: fingerprint, face,
  // screen lock), when the browser has one and the server offers it;
  // approvals of requests that want it carry an assertion of it.
  async function registerOwner(rec) {
    if (!self.PublicKeyCredential || !PublicKeyCredential.isUserVerifyingPlatformAuthenticatorAvailable) return false;
    if (!(await PublicKeyCredential.isUserVerifyingPlatformAuthenticatorAvailable())) return false;
    let opts;
    try {
      opts = await call(rec, "/v1/webauthn/register");
    } catch (e) {
      return false; // off on this server
    }
    const cred = await navigator.credentials.create({ publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(opts.publicKey) });
    await call(rec, "/v1/webauthn/register/finish", { credential: cred.toJSON() });
    rec.credentialId = cred.id;
    await saveToken(rec);
    return true;
  }

  // approvalAssertion is the owner's assertion over an approval
  // (push.ApprovalChallenge: the request, the decision, the number).
  async function approvalAssertion(rec, id, decision, number) {
    if (!rec.credentialId) throw new Error("this device has no verification of its owner registered; enroll it again");
    const challenge = await crypto.subtle.digest("SHA-256", enc.encode("radmfa approve v1\0" + id + "\0" + decision + "\0" + (number || 0)));
    const cred = await navigator.credentials.get({
      publicKey: PublicKeyCredential.parseRequestOptionsFromJSON({
        challenge: b64url(challenge),
        rpId: location.hostname,
        allowCredentials: [{ type: "public-key", id: rec.credentialId }],
        userVerification: "required",
        timeout: 60000,
      }),
    });
    return cred.toJSON();
  }

  // approve approves a request, with the owner's verification when it
  // wants it.
  async function approve(rec, r, number) {
    const fields = { id: r.id, decision: "approve" };
    if (number) fields.number = number;
    if (r.user_verification) fields.assertion = await approvalAssertion(rec, r.id, "approve", number);
    return call(rec, "/v1/answer", fields);
  }

  const updateDevice = (rec, webPush) => call(rec, "/v1/device", Object.assign({ device: describeDevice(!!webPush) }, webPush ? { web_push: webPush } : {}));

  // subscribe asks the browser for a push subscription with the server's
  // VAPID key; null when push is not to be had (no permission, no push
  // service reachable): the app then polls.
  async function subscribe(registration) {
    try {
      if (!("PushManager" in self) || Notification.permission !== "granted") return null;
      const res = await fetch("/v1/webpush-key");
      if (!res.ok) return null;
      const key = (await res.json()).public_key;
      // A browser that cannot reach its push service may never answer:
      // the app then polls rather than waits.
      const sub = await Promise.race([
        registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: unb64(key) }),
        new Promise((resolve) => setTimeout(() => resolve(null), 5000)),
      ]);
      return sub ? sub.toJSON() : null;
    } catch (e) {
      return null;
    }
  }

  g.radmfa = { enrollPush, listTokens, saveToken, deleteToken, totp, pending, history, answer, approve, registerOwner, updateDevice, subscribe, normalizeCode };
})(self);
