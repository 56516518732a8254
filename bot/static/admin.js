// Admin pages' scripts (no inline script: the Content-Security-Policy allows files only).

// Case/tip editor: live preview of the WeChat reply and the article page, errors by field.
// Each field's error (from the server's last save or from the preview) is shown under the
// field and disappears as soon as the preview finds that field fixed.
(function () {
  const form = document.getElementById("editor");
  if (!form) return;
  const reply = document.getElementById("preview-reply");
  const page = document.getElementById("preview-page");
  const problems = document.getElementById("preview-errors");
  let timer = null;
  // Errors appear under a field once the user has changed it (or the server showed one there);
  // a fresh form is not covered in red before anything is typed.
  const watched = new Set(Array.from(form.querySelectorAll(".errors[data-field]"),
                                     (e) => e.dataset.field));

  function control(field) {
    return form.querySelector('[name="' + CSS.escape(field) + '"]');
  }

  // Where a field's errors go: after its <label>, or after its <fieldset> for checkboxes.
  function anchor(field) {
    const input = control(field);
    if (!input) return null;
    return input.closest("fieldset") || input.closest("label");
  }

  // The field's name as the form shows it (its label or legend), for the summary list.
  function labelOf(field) {
    const box = anchor(field);
    if (!box) return "";
    const legend = box.querySelector("legend");
    const text = legend ? legend.textContent : (box.firstChild && box.firstChild.textContent);
    return (text || "").trim().replace(/（.*$/, "");
  }

  function showFieldErrors(errors) {
    for (const old of form.querySelectorAll(".errors[data-field]")) {
      if (!(old.dataset.field in errors)) old.remove();
    }
    for (const input of form.querySelectorAll(".field-error")) {
      if (!(input.name in errors)) input.classList.remove("field-error");
    }
    for (const [field, messages] of Object.entries(errors)) {
      const box = anchor(field);
      if (!box || !watched.has(field)) continue;
      const input = control(field);
      if (input && input.type !== "checkbox") input.classList.add("field-error");
      for (const old of form.querySelectorAll('.errors[data-field="' + CSS.escape(field) + '"]')) {
        old.remove();
      }
      let after = box;
      for (const message of messages) {
        const line = document.createElement("div");
        line.className = "errors";
        line.dataset.field = field;
        line.textContent = message;
        after.after(line);
        after = line;
      }
    }
  }

  async function refresh() {
    const res = await fetch(form.dataset.preview, {method: "POST", body: new FormData(form)});
    if (!res.ok) { problems.textContent = "预览失败（" + res.status + "），请刷新页面后再试。"; return; }
    const data = await res.json();
    problems.textContent = "";
    showFieldErrors(data.ok ? {} : data.errors);
    if (!data.ok) {
      reply.textContent = "（还有问题，改好后显示预览）";
      for (const [field, messages] of Object.entries(data.errors)) {
        const line = document.createElement("div");
        const name = field === "_form" ? "" : labelOf(field);
        line.textContent = (name ? name + "：" : "") + messages.join("；");
        problems.appendChild(line);
      }
      return;
    }
    reply.textContent = data.reply;
    if (page) page.srcdoc = data.page;   // sandboxed iframe: no scripts run in the preview
  }
  function changed(event) {
    if (event.target.name) watched.add(event.target.name);
    clearTimeout(timer);
    timer = setTimeout(refresh, 400);
  }
  form.addEventListener("input", changed);
  form.addEventListener("change", changed);
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
