// The chat page `ember-lm serve` sends at GET /: one self-contained HTML file that keeps the
// conversation in the page and streams each answer from /v1/chat/completions (server-sent
// events read from fetch's body stream), with an optional API key field. /?q=TEXT asks TEXT
// on load.
#pragma once

namespace ember::lm {

inline constexpr const char* kChatPage = R"PAGE(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Ember chat</title>
<style>
  body { font-family: system-ui, sans-serif; max-width: 48rem; margin: 0 auto; padding: 1rem; background: #fafafa; }
  h1 { font-size: 1.2rem; margin: 0 0 .5rem; }
  #log { display: flex; flex-direction: column; gap: .5rem; margin-bottom: 1rem; }
  .msg { padding: .6rem .8rem; border-radius: .5rem; white-space: pre-wrap; line-height: 1.4; }
  .user { background: #dbeafe; align-self: flex-end; }
  .assistant { background: #fff; border: 1px solid #ddd; align-self: flex-start; }
  .error { background: #fee2e2; }
  form { display: flex; gap: .5rem; }
  textarea { flex: 1; min-height: 3rem; font: inherit; padding: .5rem; }
  button { font: inherit; padding: .5rem 1rem; }
  #settings { display: flex; gap: 1rem; margin-bottom: .5rem; font-size: .9rem; color: #444; }
  #settings input { width: 5rem; }
</style>
</head>
<body>
<h1>Ember chat <span id="model" style="font-weight:normal;color:#666"></span></h1>
<div id="settings">
  <label>temperature <input id="temperature" type="number" min="0" max="2" step="0.1" value="0.7"></label>
  <label>max tokens <input id="max_tokens" type="number" min="1" value="256"></label>
  <label>API key <input id="key" type="password" style="width:10rem"></label>
  <button id="reset" type="button">New chat</button>
</div>
<div id="log"></div>
<form id="form">
  <textarea id="input" placeholder="Type a message and press Enter"></textarea>
  <button id="send" type="submit">Send</button>
</form>
<script>
const log = document.getElementById("log"), input = document.getElementById("input");
const form = document.getElementById("form"), sendButton = document.getElementById("send");
let messages = [];

function bubble(role, text) {
  const div = document.createElement("div");
  div.className = "msg " + role;
  div.textContent = text;
  log.appendChild(div);
  window.scrollTo(0, document.body.scrollHeight);
  return div;
}

function headers() {
  const h = {"Content-Type": "application/json"};
  const key = document.getElementById("key").value;
  if (key) h["Authorization"] = "Bearer " + key;
  return h;
}

fetch("/v1/models", {headers: headers()}).then(r => r.json()).then(j => {
  if (j.data && j.data.length) document.getElementById("model").textContent = j.data[0].id;
}).catch(() => {});

// /?q=TEXT sends TEXT once the page has loaded (a link that opens a chat with a question).
const preset = new URLSearchParams(location.search).get("q");
if (preset) { input.value = preset; setTimeout(() => form.requestSubmit(), 0); }

document.getElementById("reset").onclick = () => { messages = []; log.innerHTML = ""; };
input.addEventListener("keydown", e => {
  if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); form.requestSubmit(); }
});

form.addEventListener("submit", async e => {
  e.preventDefault();
  const text = input.value.trim();
  if (!text) return;
  input.value = "";
  messages.push({role: "user", content: text});
  bubble("user", text);
  const out = bubble("assistant", "");
  sendButton.disabled = true;
  let answer = "";
  try {
    const res = await fetch("/v1/chat/completions", {
      method: "POST", headers: headers(),
      body: JSON.stringify({messages, stream: true,
                            temperature: Number(document.getElementById("temperature").value),
                            max_tokens: Number(document.getElementById("max_tokens").value)})});
    if (!res.ok) {
      const err = await res.json().catch(() => ({}));
      throw new Error((err.error && err.error.message) || ("HTTP " + res.status));
    }
    const reader = res.body.getReader(), decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const {value, done} = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, {stream: true});
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const line = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        if (!line.startsWith("data: ")) continue;
        const data = line.slice(6);
        if (data === "[DONE]") continue;
        const chunk = JSON.parse(data);
        const delta = chunk.choices && chunk.choices[0] && chunk.choices[0].delta;
        if (delta && delta.content) { answer += delta.content; out.textContent = answer; }
      }
    }
    messages.push({role: "assistant", content: answer});
    out.dataset.done = "1";
  } catch (err) {
    out.className = "msg error";
    out.textContent = String(err.message || err);
    messages.pop();
  } finally {
    sendButton.disabled = false;
  }
});
</script>
</body>
</html>
)PAGE";

}  // namespace ember::lm
