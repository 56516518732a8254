// Admin pages' scripts (no inline script: the Content-Security-Policy allows files only).

// Case/tip editor: live preview of the WeChat reply and the article page, errors by field.
(function () {
  const form = document.getElementById("editor");
  if (!form) return;
  const reply = document.getElementById("preview-reply");
  const page = document.getElementById("preview-page");
  const problems = document.getElementById("preview-errors");
  let timer = null;
  async function refresh() {
    const res = await fetch(form.dataset.preview, {method: "POST", body: new FormData(form)});
    if (!res.ok) { problems.textContent = "预览失败：" + res.status; return; }
    const data = await res.json();
    problems.textContent = "";
    if (!data.ok) {
      reply.textContent = "（还有问题，改好后显示预览）";
      for (const [field, messages] of Object.entries(data.errors)) {
        const line = document.createElement("div");
        line.textContent = (field === "_form" ? "" : field + "：") + messages.join("；");
        problems.appendChild(line);
      }
      return;
    }
    reply.textContent = data.reply;
    if (page) page.srcdoc = data.page;   // sandboxed iframe: no scripts run in the preview
  }
  form.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(refresh, 400); });
  refresh();
})();

// Questions page: every row's case list gets all published cases, kept once in a <template>.
(function () {
  const all = document.getElementById("all-cases");
  if (!all) return;
  for (const select of document.querySelectorAll("select[data-all-cases]")) {
    select.appendChild(all.content.cloneNode(true));
  }
})();
