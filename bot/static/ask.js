// The try-it page: post the question to the JSON API and show the answer as WeChat would.
document.getElementById("ask").addEventListener("submit", async (event) => {
  event.preventDefault();
  const q = document.getElementById("q").value.trim();
  if (!q) return;
  const res = await fetch("/api/v1/ask", {
    method: "POST",
    headers: {"Content-Type": "application/json"},
    body: JSON.stringify({q: q, channel: "web"}),
  });
  const data = await res.json();
  const box = document.getElementById("result");
  box.hidden = false;
  if (!res.ok) {
    document.getElementById("title").textContent = "出错了";
    document.getElementById("answer").textContent = data.error ? data.error.message : res.statusText;
    return;
  }
  document.getElementById("category").textContent = data.category;
  document.getElementById("urgent").hidden = !data.urgent;
  document.getElementById("score").textContent = "score " + data.score;
  document.getElementById("title").textContent = data.title;
  document.getElementById("answer").textContent = data.answer;
});
