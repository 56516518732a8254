// Visit form on a weak connection: keep the submission on the phone and retry in the background
// until the server says it stored it (the submission id makes a retry land once). Without this
// script the form posts normally and the server's page says 已保存.
(function () {
  const form = document.getElementById("visit-form");
  const state = document.getElementById("save-state");
  const KEY = "pending-visits";
  const pending = () => JSON.parse(localStorage.getItem(KEY) || "{}");
  const keep = (all) => localStorage.setItem(KEY, JSON.stringify(all));

  async function send(id, entry) {
    const body = new URLSearchParams(entry.fields);
    const res = await fetch(entry.action, {method: "POST", body: body,
                                           headers: {"Accept": "application/json"}});
    if (res.status >= 500) throw new Error("server " + res.status);
    const all = pending();
    delete all[id];
    keep(all);
    return res;
  }

  async function retryAll(delay) {
    const all = pending();
    const ids = Object.keys(all);
    if (!ids.length) return;
    if (state) state.textContent = "有 " + ids.length + " 条登记暂存在手机上，正在重试…";
    let failed = false;
    for (const id of ids) {
      try { await send(id, all[id]); } catch (e) { failed = true; }
    }
    if (failed) setTimeout(() => retryAll(Math.min(delay * 2, 60000)), delay);
    else if (state) state.textContent = "暂存的登记已保存。";
  }

  if (form) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const fields = Array.from(new FormData(form).entries());
      const id = form.elements["submission_id"].value;
      const all = pending();
      all[id] = {action: form.action, fields: fields};
      keep(all);
      state.textContent = "正在保存…";
      try {
        const res = await send(id, all[id]);
        if (res.ok) { const data = await res.json(); state.textContent = "已保存"; location.href = data.url; }
        else { form.submit(); }   // the server's page shows what to correct
      } catch (e) {
        state.textContent = "网络不好，登记已暂存在手机上，会自动重试，请不要关闭浏览器。";
        setTimeout(() => retryAll(2000), 2000);
      }
    });
  }
  retryAll(2000);
})();
