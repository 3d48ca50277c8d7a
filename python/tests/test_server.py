"""`ember-lm serve` against the official OpenAI Python client and raw HTTP.

The server runs on 127.0.0.1 (a free port it picks) with the default model (SmolLM2-135M-Instruct,
installed by scripts/install-deps). Its answers are compared with `ember-lm generate` on the same
prompt and sampling settings; malformed requests must get the right 4xx code and an OpenAI-style
error body, and the server must keep answering afterwards.
"""

import http.client
import json
import os
import pathlib
import re
import subprocess
import threading
import time

import pytest

openai = pytest.importorskip("openai")

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(os.environ.get("EMBER_LM_BIN", ROOT / "build" / "bin" / "ember-lm"))
MODEL_DIR = pathlib.Path(
    os.environ.get(
        "EMBER_MODEL_DIR",
        pathlib.Path(os.environ.get("XDG_CACHE_HOME", pathlib.Path.home() / ".cache")) / "ember" / "models",
    )
)
MODEL = pathlib.Path(os.environ.get("EMBER_LM_MODEL", MODEL_DIR / "SmolLM2-135M-Instruct.Q4_1.gguf"))

if not BIN.exists():
    pytest.skip(f"{BIN} is not built (set EMBER_LM_BIN)", allow_module_level=True)
if not MODEL.exists():
    pytest.skip(f"the default model {MODEL} is missing (scripts/install-deps installs it)", allow_module_level=True)


class Server:
    def __init__(self, *args):
        self.proc = subprocess.Popen(
            [str(BIN), "serve", "--model", str(MODEL), "--port", "0", *args], stderr=subprocess.PIPE, text=True
        )
        self.port = None
        deadline = time.time() + 120
        for line in self.proc.stderr:  # the model loads, then the server prints its address
            m = re.search(r"on http://127\.0\.0\.1:(\d+)", line)
            if m:
                self.port = int(m.group(1))
                break
            assert time.time() < deadline, "the server did not start within 120 s"
        assert self.port, "the server exited before listening"
        # Keep draining stderr so the server never blocks on a full pipe.
        threading.Thread(target=lambda: [None for _ in self.proc.stderr], daemon=True).start()

    def client(self, key="unused"):
        return openai.OpenAI(base_url=f"http://127.0.0.1:{self.port}/v1", api_key=key, max_retries=0, timeout=120)

    def request(self, method, path, body=None, headers=None, raw=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        conn.request(method, path, body=data, headers={"Content-Type": "application/json", **(headers or {})})
        res = conn.getresponse()
        payload = res.read()
        conn.close()
        return res.status, payload

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise


@pytest.fixture(scope="module")
def server():
    s = Server()
    yield s
    s.stop()
    assert s.proc.returncode == 0, "SIGTERM should end the server cleanly"


def generate_cli(prompt, *args):
    out = subprocess.run(
        [str(BIN), "generate", "--model", str(MODEL), "--prompt", prompt, *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    assert out.stdout.endswith("\n")
    return out.stdout[:-1]


def test_chat_completion_equals_generate(server):
    client = server.client()
    messages = [
        {"role": "system", "content": "You answer in one short sentence."},
        {"role": "user", "content": "What is the capital of France?"},
    ]
    r = client.chat.completions.create(model="m", messages=messages, temperature=0, max_tokens=24)
    want = generate_cli(
        "What is the capital of France?",
        "--system",
        "You answer in one short sentence.",
        "--temp",
        "0",
        "--max-tokens",
        "24",
    )
    assert r.choices[0].message.content == want
    assert r.choices[0].message.role == "assistant"
    assert r.choices[0].finish_reason in ("stop", "length")
    assert r.usage.completion_tokens > 0 and r.usage.prompt_tokens > 10
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    assert r.object == "chat.completion"


def test_seeded_sampling_equals_generate(server):
    client = server.client()
    r = client.chat.completions.create(
        model="m",
        messages=[{"role": "user", "content": "Name three colors."}],
        temperature=0.9,
        top_p=0.95,
        seed=1234,
        max_tokens=20,
    )
    want = generate_cli(
        "Name three colors.", "--temp", "0.9", "--top-p", "0.95", "--seed", "1234", "--max-tokens", "20"
    )
    assert r.choices[0].message.content == want


def test_streaming_gives_the_same_text_and_usage(server):
    client = server.client()
    messages = [{"role": "user", "content": "Count from one to five."}]
    whole = client.chat.completions.create(model="m", messages=messages, temperature=0, max_tokens=16)
    pieces, usage, finish = [], None, None
    for chunk in client.chat.completions.create(
        model="m", messages=messages, temperature=0, max_tokens=16, stream=True, stream_options={"include_usage": True}
    ):
        assert chunk.object == "chat.completion.chunk"
        if chunk.usage:
            usage = chunk.usage
        for c in chunk.choices:
            if c.delta.content:
                pieces.append(c.delta.content)
            if c.finish_reason:
                finish = c.finish_reason
    assert len(pieces) > 1
    assert "".join(pieces) == whole.choices[0].message.content
    assert finish == whole.choices[0].finish_reason
    assert usage.completion_tokens == whole.usage.completion_tokens


def test_completions_equal_generate_and_stream(server):
    client = server.client()
    prompt = "The three primary colors are"
    r = client.completions.create(model="m", prompt=prompt, temperature=0, max_tokens=12, logprobs=2)
    want = generate_cli(prompt, "--ignore-chat-template", "--temp", "0", "--max-tokens", "12")
    assert r.choices[0].text == want
    lp = r.choices[0].logprobs
    assert len(lp.tokens) == r.usage.completion_tokens == len(lp.token_logprobs) == len(lp.top_logprobs)
    for chosen, top in zip(lp.token_logprobs, lp.top_logprobs):
        assert chosen <= 0 and len(top) == 2
        assert max(top.values()) >= chosen - 1e-5  # greedy: the chosen token is the most likely
    streamed = "".join(
        c.choices[0].text
        for c in client.completions.create(model="m", prompt=prompt, temperature=0, max_tokens=12, stream=True)
        if c.choices
    )
    assert streamed == want
    echoed = client.completions.create(model="m", prompt=prompt, temperature=0, max_tokens=12, echo=True)
    assert echoed.choices[0].text == prompt + want


def test_chat_logprobs_and_stop(server):
    client = server.client()
    r = client.chat.completions.create(
        model="m",
        messages=[{"role": "user", "content": "Say hello."}],
        temperature=0,
        max_tokens=8,
        logprobs=True,
        top_logprobs=3,
    )
    content = r.choices[0].logprobs.content
    assert len(content) == r.usage.completion_tokens
    for t in content:
        assert len(t.top_logprobs) == 3
        assert abs(t.top_logprobs[0].logprob - t.logprob) < 1e-5  # greedy picks the top token
        assert t.bytes == list(t.token.encode()) or "\ufffd" in t.token
    text = r.choices[0].message.content
    assert len(text) > 2
    cut = text[1:3]
    s = client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "Say hello."}], temperature=0, max_tokens=8, stop=[cut]
    )
    assert s.choices[0].message.content == text[: text.index(cut)]
    assert s.choices[0].finish_reason == "stop"


def test_models_health_and_page(server):
    models = server.client().models.list()
    assert [m.id for m in models.data] == [MODEL.name]
    status, body = server.request("GET", "/health")
    assert status == 200 and json.loads(body)["status"] == "ok"
    status, body = server.request("GET", "/")
    assert status == 200 and b"Ember chat" in body and b"/v1/chat/completions" in body


MESSAGES = [{"role": "user", "content": "hi"}]
BAD_REQUESTS = [
    # (method, path, body or raw bytes, expected status, param the error names or None)
    ("POST", "/v1/chat/completions", b"{not json", 400, None),
    ("POST", "/v1/chat/completions", b"", 400, None),
    ("POST", "/v1/chat/completions", b"[1, 2]", 400, None),
    ("POST", "/v1/chat/completions", b"\xff\xfe", 400, None),
    ("POST", "/v1/chat/completions", {}, 400, "messages"),
    ("POST", "/v1/chat/completions", {"messages": "hi"}, 400, "messages"),
    ("POST", "/v1/chat/completions", {"messages": []}, 400, "messages"),
    ("POST", "/v1/chat/completions", {"messages": [1]}, 400, "messages[0]"),
    ("POST", "/v1/chat/completions", {"messages": [{"content": "x"}]}, 400, "messages[0].role"),
    ("POST", "/v1/chat/completions", {"messages": [{"role": "wizard", "content": "x"}]}, 400, "messages[0].role"),
    ("POST", "/v1/chat/completions", {"messages": [{"role": "user", "content": 5}]}, 400, "messages[0].content"),
    (
        "POST",
        "/v1/chat/completions",
        {"messages": [{"role": "user", "content": [{"type": "image_url"}]}]},
        400,
        "messages[0].content",
    ),
    ("POST", "/v1/chat/completions", {"messages": MESSAGES, "temperature": "hot"}, 400, "temperature"),
    ("POST", "/v1/chat/completions", {"messages": MESSAGES, "temperature": -1}, 400, "temperature"),
    ("POST", "/v1/chat/completions", {"messages": MESSAGES, "temperature": 3}, 400, "temperature"),
    ("POST", "/v1/chat/completions", {"messages": MESSAGES, "top_p": 0}, 400, "top_p"),
    ("POST", "/v1/chat/completions", {"messages": MESSAGES, "top_p": 1.5}, 400, "top_p"),
    ("POST", "/v1/chat/completions", {"messages": MESSAGES, "top_k": -3}, 400, "top_k"),
    ("POST", "/v1/chat/completions", {"messages": MESSAGES, "min_p": 2}, 400, "min_p"),
    ("POST", "/v1/chat/completions", {"messages": MESSAGES, "max_tokens": 0}, 400, "max_tokens"),
    ("POST", "/v1/chat/completions", {"messages": MESSAGES, "max_tokens": -5}, 400, "max_tokens"),
    ("POST", "/v1/chat/completions", {"messages": MESSAGES, "max_tokens": 1.5}, 400, "max_tokens"),
    ("POST", "/v1/chat/completions", {"messages": MESSAGES, "max_tokens": 10**12}, 400, "max_tokens"),
    ("POST", "/v1/chat/completions", {"messages": MESSAGES, "max_tokens": 10**30}, 400, "max_tokens"),
    (
        "POST",
        "/v1/chat/completions",
        {"messages": MESSAGES, "max_completion_tokens": "9"},
        400,
        "max_completion_tokens",
    ),
    ("POST", "/v1/chat/completions", {"messages": MESSAGES, "n": 3}, 400, "n"),
    ("POST", "/v1/chat/completions", {"messages": MESSAGES, "stop": 7}, 400, "stop"),
    ("POST", "/v1/chat/completions", {"messages": MESSAGES, "stop": ["a", "b", "c", "d", "e"]}, 400, "stop"),
    ("POST", "/v1/chat/completions", {"messages": MESSAGES, "stop": [""]}, 400, "stop"),
    ("POST", "/v1/chat/completions", {"messages": MESSAGES, "seed": "x"}, 400, "seed"),
    ("POST", "/v1/chat/completions", {"messages": MESSAGES, "presence_penalty": 5}, 400, "presence_penalty"),
    ("POST", "/v1/chat/completions", {"messages": MESSAGES, "frequency_penalty": -9}, 400, "frequency_penalty"),
    ("POST", "/v1/chat/completions", {"messages": MESSAGES, "logit_bias": {"abc": 1}}, 400, "logit_bias"),
    ("POST", "/v1/chat/completions", {"messages": MESSAGES, "logit_bias": {"99999999": 1}}, 400, "logit_bias"),
    ("POST", "/v1/chat/completions", {"messages": MESSAGES, "logit_bias": {"5": 500}}, 400, "logit_bias"),
    ("POST", "/v1/chat/completions", {"messages": MESSAGES, "logit_bias": [1]}, 400, "logit_bias"),
    ("POST", "/v1/chat/completions", {"messages": MESSAGES, "stream": "yes"}, 400, "stream"),
    ("POST", "/v1/chat/completions", {"messages": MESSAGES, "stream_options": 1}, 400, "stream_options"),
    ("POST", "/v1/chat/completions", {"messages": MESSAGES, "top_logprobs": 3}, 400, "top_logprobs"),
    ("POST", "/v1/chat/completions", {"messages": MESSAGES, "logprobs": True, "top_logprobs": 50}, 400, "top_logprobs"),
    ("POST", "/v1/chat/completions", {"messages": MESSAGES, "model": 42}, 400, "model"),
    ("POST", "/v1/chat/completions", {"messages": [{"role": "user", "content": "x " * 9000}]}, 400, "messages"),
    ("POST", "/v1/completions", {}, 400, "prompt"),
    ("POST", "/v1/completions", {"prompt": 12}, 400, "prompt"),
    ("POST", "/v1/completions", {"prompt": ["a", "b"]}, 400, "prompt"),
    ("POST", "/v1/completions", {"prompt": [1, -2]}, 400, "prompt"),
    ("POST", "/v1/completions", {"prompt": [10**9]}, 400, "prompt"),
    ("POST", "/v1/completions", {"prompt": ""}, 400, "prompt"),
    ("POST", "/v1/completions", {"prompt": "x", "logprobs": 9}, 400, "logprobs"),
    ("GET", "/v1/chat/completions", None, 405, None),
    ("GET", "/v1/nothing-here", None, 404, None),
    ("POST", "/v2/chat/completions", {"messages": MESSAGES}, 404, None),
    ("DELETE", "/v1/models", None, 404, None),
]


def test_malformed_requests_get_4xx_and_the_server_keeps_answering(server):
    assert len(BAD_REQUESTS) >= 30
    for method, path, body, status, param in BAD_REQUESTS:
        raw = body if isinstance(body, bytes) else None
        got, payload = server.request(method, path, body=None if raw is not None else body, raw=raw)
        assert got == status, (method, path, body, payload[:300])
        err = json.loads(payload)["error"]
        assert err["message"] and err["type"], payload
        if param:
            assert err["param"] == param, (body, err)
    r = server.client().chat.completions.create(model="m", messages=MESSAGES, temperature=0, max_tokens=4)
    assert r.choices[0].message.content


def test_concurrent_clients_get_their_own_answers(server):
    prompts = [f"Write the number {i} in words." for i in range(16)]
    client = server.client()
    # Each prompt's answer alone first, then 16 clients x 4 requests at once.
    want = {
        p: client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": p}], temperature=0, max_tokens=6
        )
        .choices[0]
        .message.content
        for p in prompts
    }
    _, body = server.request("GET", "/health")
    idle = json.loads(body)["active_memory"]
    results, errors = {}, []

    def worker(i):
        c = server.client()
        try:
            for j in range(4):
                stream = j % 2 == 1
                p = prompts[(i + j) % 16]
                r = c.chat.completions.create(
                    model="m", messages=[{"role": "user", "content": p}], temperature=0, max_tokens=6, stream=stream
                )
                text = (
                    "".join(ch.choices[0].delta.content or "" for ch in r if ch.choices)
                    if stream
                    else r.choices[0].message.content
                )
                results[(i, j)] = (p, text)
        except Exception as e:  # noqa: BLE001 (any failure is reported below, with its worker)
            errors.append((i, repr(e)))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert not errors, errors
    assert len(results) == 64
    for p, text in results.values():
        assert text == want[p], p
    _, body = server.request("GET", "/health")
    # Back to the idle level: only the kept conversation cache may differ (a few MB).
    assert json.loads(body)["active_memory"] <= idle + (32 << 20)


def test_a_client_that_goes_away_cancels_its_stream(server):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    body = {
        "messages": [{"role": "user", "content": "Tell me a very long story."}],
        "max_tokens": 2000,
        "temperature": 0.7,
        "stream": True,
    }
    conn.request("POST", "/v1/chat/completions", body=json.dumps(body), headers={"Content-Type": "application/json"})
    res = conn.getresponse()
    assert res.status == 200
    res.read1(64)  # the first events arrived
    conn.close()
    # 2000 tokens would take the server many seconds; a cancelled stream frees it at once.
    t0 = time.time()
    r = server.client().chat.completions.create(model="m", messages=MESSAGES, temperature=0, max_tokens=4)
    assert r.choices[0].message.content
    assert time.time() - t0 < 10
    wait_until_idle(server)


def wait_until_idle(server, seconds=20):
    for _ in range(int(seconds / 0.1)):
        _, body = server.request("GET", "/health")
        h = json.loads(body)
        if h["requests_running"] == 0 and h["requests_waiting"] == 0:
            return
        time.sleep(0.1)
    raise AssertionError(f"the server still runs requests after {seconds} s: {h}")


def test_a_client_that_goes_away_cancels_its_whole_answer(server):
    # A non-streamed answer that takes over a second is sent chunked, a space at a time until it
    # is ready: the client closing its connection cancels the request.
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    # The special tokens (end of text, of turn, start of turn) banned: the answer runs its 2000 tokens.
    no_end = {"0": -100, "1": -100, "2": -100}
    body = {"messages": [{"role": "user", "content": "Tell me a story."}], "max_tokens": 2000, "logit_bias": no_end}
    conn.request("POST", "/v1/chat/completions", body=json.dumps(body), headers={"Content-Type": "application/json"})
    res = conn.getresponse()
    assert res.status == 200
    assert res.read(1) == b" "  # still generating
    _, health = server.request("GET", "/health")
    assert json.loads(health)["requests_running"] == 1
    conn.close()
    wait_until_idle(server)
    # A long answer read to the end is one JSON body after the spaces.
    long_story = [{"role": "user", "content": "Tell me a very long story."}]
    r = server.client().chat.completions.create(
        model="m", messages=long_story, temperature=0, max_tokens=300, logit_bias=no_end
    )
    assert r.usage.completion_tokens == 300 and r.choices[0].message.content


def test_api_key_and_body_limit():
    s = Server("--api-key", "sekrit", "--max-body-bytes", "4096")
    try:
        with pytest.raises(openai.AuthenticationError):
            s.client("wrong").chat.completions.create(model="m", messages=MESSAGES, max_tokens=2)
        status, payload = s.request("POST", "/v1/chat/completions", {"messages": MESSAGES})
        assert status == 401 and json.loads(payload)["error"]["code"] == "invalid_api_key"
        r = s.client("sekrit").chat.completions.create(model="m", messages=MESSAGES, temperature=0, max_tokens=3)
        assert r.choices[0].message.content
        status, payload = s.request(
            "POST",
            "/v1/chat/completions",
            {"messages": [{"role": "user", "content": "x" * 10000}]},
            headers={"Authorization": "Bearer sekrit"},
        )
        assert status == 413 and json.loads(payload)["error"]["message"]
        assert s.request("GET", "/health")[0] == 200  # no key needed
    finally:
        s.stop()


def test_interleaved_conversations_each_reuse_their_cache(server):
    client = server.client()
    convs = [
        [{"role": "system", "content": "You are a pirate."}, {"role": "user", "content": "Hello!"}],
        [{"role": "system", "content": "You are a poet."}, {"role": "user", "content": "Good morning."}],
    ]
    first = []
    for msgs in convs:  # turn 1 of each, one after the other
        r = client.chat.completions.create(model="m", messages=msgs, temperature=0, max_tokens=8)
        first.append(r.usage.prompt_tokens)
        msgs.append({"role": "assistant", "content": r.choices[0].message.content})
        msgs.append({"role": "user", "content": "Say more."})
    for msgs, prompt_tokens in zip(convs, first):  # turn 2 of each continues its own cache
        r = client.chat.completions.create(model="m", messages=msgs, temperature=0, max_tokens=8)
        assert r.usage.prompt_tokens_details.cached_tokens >= prompt_tokens


def test_conversations_sharing_a_system_prompt_reuse_it_exactly(server):
    # A new conversation takes the positions it shares with another's prompt (its system
    # prompt) from that one's cache, and still answers exactly as `ember-lm generate` from scratch.
    client = server.client()
    system = "You are a terse assistant for a museum of clocks. Answer in a few words, never more."
    r1 = client.chat.completions.create(
        model="m",
        messages=[{"role": "system", "content": system}, {"role": "user", "content": "Who built the first clock?"}],
        temperature=0,
        max_tokens=8,
    )
    assert r1.usage.prompt_tokens_details.cached_tokens < 20
    question = "What time is it in the museum?"
    r2 = client.chat.completions.create(
        model="m",
        messages=[{"role": "system", "content": system}, {"role": "user", "content": question}],
        temperature=0,
        max_tokens=12,
    )
    assert r2.usage.prompt_tokens_details.cached_tokens >= 20  # the system prompt and more
    assert r2.usage.prompt_tokens - r2.usage.prompt_tokens_details.cached_tokens >= 5
    want = generate_cli(question, "--system", system, "--temp", "0", "--max-tokens", "12")
    assert r2.choices[0].message.content == want


class Chromium:
    """Headless Chromium driven over the DevTools protocol on a pipe (the child's fds 3 and 4)."""

    def __init__(self, binary, profile):
        cmd_r, self.cmd_w = os.pipe()
        self.res_r, res_w = os.pipe()
        # bash maps the pipe ends onto fds 3 and 4, where --remote-debugging-pipe expects them.
        args = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
                f"--user-data-dir={profile}"]  # fmt: skip
        self.proc = subprocess.Popen(
            ["bash", "-c", f'exec "$0" "$@" 3<&{cmd_r} 4>&{res_w}', *args],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            pass_fds=(cmd_r, res_w))  # fmt: skip
        os.close(cmd_r)
        os.close(res_w)
        self.buf, self.next_id = b"", 0

    def call(self, method, session=None, **params):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        os.write(self.cmd_w, json.dumps(msg).encode() + b"\0")
        while True:
            while b"\0" not in self.buf:
                chunk = os.read(self.res_r, 1 << 16)
                assert chunk, "chromium closed its DevTools pipe"
                self.buf += chunk
            raw, self.buf = self.buf.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self.next_id:
                assert "error" not in reply, (method, reply["error"])
                return reply["result"]

    def close(self):
        self.proc.kill()
        self.proc.wait()
        os.close(self.cmd_w)
        os.close(self.res_r)


def test_chat_page_streams_an_answer_in_headless_chromium(server, tmp_path):
    import base64
    import io
    import shutil

    binary = next((b for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)
    if binary is None:
        pytest.skip("Chromium is not installed (scripts/install-deps installs Debian's chromium where it can)")
    browser = Chromium(binary, tmp_path / "profile")
    try:
        target = browser.call("Target.createTarget", url=f"http://127.0.0.1:{server.port}/?q=Name%20a%20fruit.")
        session = browser.call("Target.attachToTarget", targetId=target["targetId"], flatten=True)["sessionId"]
        # The page reads the answer from the event stream into its bubble, then marks it done.
        probe = "(() => { const a = document.querySelector('.msg.assistant'); return a ? [a.textContent, a.className, a.dataset.done || ''] : null; })()"
        answer = None
        deadline = time.time() + 60
        while time.time() < deadline:
            value = browser.call("Runtime.evaluate", session=session, expression=probe, returnByValue=True)["result"]
            got = value.get("value")
            if got and got[2] == "1":
                answer = got
                break
            assert not got or "error" not in got[1], got
            time.sleep(0.1)
        assert answer, "no streamed answer within 60 s"
        assert answer[0].strip()
        png = base64.b64decode(browser.call("Page.captureScreenshot", session=session, format="png")["data"])
        assert png.startswith(b"\x89PNG")
        (tmp_path / "chat.png").write_bytes(png)
        try:
            from PIL import Image
        except ImportError:
            return
        image = Image.open(io.BytesIO(png)).convert("RGB")
        assert image.width > 300 and image.height > 200
        colors = image.getcolors(maxcolors=1 << 16)  # None: more colors than that
        assert colors is None or len(colors) > 20, "the screenshot is blank"
    finally:
        browser.close()
