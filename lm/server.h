// `ember-lm serve`: an OpenAI-compatible HTTP server over one loaded model (cpp-httplib, JSON with
// nlohmann-json). Routes: POST /v1/chat/completions and /v1/completions (optionally streamed as
// server-sent events ending in `data: [DONE]`), GET /v1/models, GET /health, and a chat page at
// GET /. Requests are validated field by field; bad ones get an OpenAI-style error body with
// 400 (malformed or out-of-range fields), 401 (missing or wrong API key), 404 (unknown route),
// 405 (wrong method) or 413 (body over the limit).
//
// One thread runs the model for every request (continuous batching): a new request's prompt
// is prefilled between decode steps, and the decode steps of all running requests go through
// the model together, up to --max-batch of them; more wait their turn. The KV caches of the
// last few conversations are kept, so the next turn of a chat runs only its new positions, and
// a new conversation takes the exact positions it shares with one of them (exact_prefix). A
// streamed request whose client goes away is dropped at the next step.
#pragma once

#include <cstddef>
#include <functional>
#include <string>

#include "lm/model.h"

namespace ember::lm {

struct ServerOptions {
  std::string host = "127.0.0.1";  // loopback unless asked otherwise
  int port = 8080;                 // 0: any free port (the one chosen is passed to on_listening)
  std::string api_key;             // when set, requests need "Authorization: Bearer <key>"
  size_t max_body_bytes = 1 << 20;
  int default_max_tokens = 512;  // when a request gives none (bounded by the context length)
  int threads = 16;              // HTTP worker threads (connections served at once)
  int cache_slots = 4;           // conversations whose KV caches are kept for their next turn
  // Requests whose decode steps run together (continuous batching). Up to 4 rows the int8
  // matrix-vector kernels (AVX-512 VNNI, and AVX2 for 4 bits) give each row exactly what it
  // gets alone, so a request's answer does not depend on what runs beside it (the float-x
  // kernels differ in the last places); above 4 the tiled kernels round differently.
  int max_batch = 4;
  std::string model_id;  // the name /v1/models lists (default: the model folder or file name)
};

/// Serves `model` until stop_server() is called from another thread or a signal handler's
/// thread; calls on_listening(port) once the socket listens. Throws std::runtime_error when the
/// address cannot be bound.
void serve(Model& model, const ServerOptions& options, const std::function<void(int port)>& on_listening = {});

/// Makes a running serve() return, or a later one return at once (safe from any thread).
void stop_server();

}  // namespace ember::lm
