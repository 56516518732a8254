// The try-it page: post the question to the JSON API and show the answer as WeChat would.
// Questions from this page are logged with channel "web": they are not residents' questions
// and do not count in the weekly statistics.
const categoryNames = {none: "无关（机器人没认出是哪类骗局）"};
fetch("/api/v1/categories")
  .then((res) => (res.ok ? res.json() : {categories: []}))
  .then((data) => { for (const c of data.categories) categoryNames[c.id] = c.name; })
  .catch(() => {});

document.getElementById("ask").addEventListener("submit", async (event) => {
  event.preventDefault();
  const q = document.getElementById("q").value.trim();
  if (!q) return;
  const box = document.getElementById("result");
  let res, data;
  try {
    res = await fetch("/api/v1/ask", {
      method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify({q: q, channel: "web"}),
    });
    data = await res.json();
  } catch (err) {
    res = {ok: false};
    data = {error: {message: "网络出错或服务器没有回答，请稍后再试。"}};
  }
  box.hidden = false;
  if (!res.ok) {
    document.getElementById("category").textContent = "";
    document.getElementById("urgent").hidden = true;
    document.getElementById("score").textContent = "";
    document.getElementById("title").textContent = "出错了";
    document.getElementById("answer").textContent =
      data && data.error ? data.error.message : "出错了，请稍后再试。";
    return;
  }
  document.getElementById("category").textContent = categoryNames[data.category] || data.category;
  document.getElementById("urgent").hidden = !data.urgent;
  document.getElementById("score").textContent = "匹配得分 " + data.score;
  document.getElementById("title").textContent = data.title;
  document.getElementById("answer").textContent = data.answer;
});
