// Visit form on a weak connection: keep the submission on the phone and retry in the background
// until the server says it stored it (the submission id makes a retry land once). Without this
// script the form posts normally and the server's page says 已保存.
(function () {
  const form = document.getElementById("visit-form");
  const state = document.getElementById("save-state");
  const KEY = "pending-visits";
  const pending = () => JSON.parse(localStorage.getItem(KEY) || "{}");
  const keep = (all) => localStorage.setItem(KEY, JSON.stringify(all));
  const say = (text) => { if (state) state.textContent = text; };

  // "saved" or "invalid" (the server answered); throws while it could not (network, 5xx,
  // signed out, stale CSRF token): the entry stays on the phone for the next try.
  async function send(id, entry) {
    const fields = entry.fields.slice();
    const fresh = document.querySelector("input[name=csrf_token]");
    if (fresh) {   // after signing in again the stored token is stale: use this page's
      for (const f of fields) if (f[0] === "csrf_token") f[1] = fresh.value;
    }
    const res = await fetch(entry.action, {method: "POST", body: new URLSearchParams(fields),
                                           headers: {"Accept": "application/json"}});
    const type = res.headers.get("Content-Type") || "";
    if (!type.includes("application/json")) throw new Error("not stored: " + res.status);
    const data = await res.json();
    const all = pending();
    delete all[id];
    keep(all);
    entry.url = data.url;
    return data.saved ? "saved" : "invalid";
  }

  let timer = null;
  async function retryAll(delay) {
    const all = pending();
    const ids = Object.keys(all);
    if (!ids.length) return;
    say("有 " + ids.length + " 条登记暂存在手机上，正在重试…");
    let failed = false;
    for (const id of ids) {
      try { await send(id, all[id]); } catch (e) { failed = true; }
    }
    if (failed) {
      say("网络不好，登记暂存在手机上，会自动重试，请不要关闭浏览器。");
      timer = setTimeout(() => retryAll(Math.min(delay * 2, 30000)), delay);
    } else {
      say("已保存");
    }
  }

  if (form) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const id = form.elements["submission_id"].value;
      const entry = {action: form.action, fields: Array.from(new FormData(form).entries())};
      const all = pending();
      all[id] = entry;
      keep(all);
      say("正在保存…");
      try {
        const result = await send(id, entry);
        if (result === "saved") { say("已保存"); location.href = entry.url; }
        else { form.submit(); }   // the server's page shows what to correct
      } catch (e) {
        say("网络不好，登记暂存在手机上，会自动重试，请不要关闭浏览器。");
        clearTimeout(timer);
        timer = setTimeout(() => retryAll(2000), 2000);
      }
    });
  }
  window.addEventListener("online", () => { clearTimeout(timer); retryAll(2000); });
  retryAll(2000);
})();
