// Code owned by trafficext.
//
// golanghost: an Envoy dynamic module (1.39 ABI) that hosts a contrib golang-filter library
// (a Go -buildmode=c-shared .so written against github.com/envoyproxy/envoy/contrib/golang)
// inside stock Envoy. It implements the golang filter's C interface (the envoyGoFilter*
// functions the Go side calls) on top of the dynamic-modules callbacks and drives the Go
// library's exported entry points with the golang filter's state machine (header, data and
// trailer phases; Running and asynchronous Continue; StopAndBuffer, StopAndBufferWatermark,
// StopNoBuffer). docs/golang-host.md lists where it cannot behave as the real filter.
#include <dlfcn.h>

#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "abi.h"

#define EXPORT extern "C" __attribute__((visibility("default")))

namespace {

// ---- logging ------------------------------------------------------------------------------

enum { kTrace = 0, kDebug = 1, kInfo = 2, kWarn = 3, kError = 4, kCritical = 5, kOff = 6 };

void logf(int level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
void logf(int level, const char* fmt, ...) {
  if (!envoy_dynamic_module_callback_log_enabled(level)) return;
  char buf[2048];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  size_t len = static_cast<size_t>(n) < sizeof buf ? static_cast<size_t>(n) : sizeof buf - 1;
  std::string msg = "[golanghost] ";
  msg.append(buf, len);
  envoy_dynamic_module_callback_log(level, dm_buf{msg.data(), msg.size()});
}

dm_buf view(const std::string& s) { return dm_buf{s.data(), s.size()}; }
dm_buf view(const void* p, int n) { return dm_buf{static_cast<const char*>(p), n > 0 ? static_cast<size_t>(n) : 0}; }

// ---- protobuf wire format (the few messages the host reads and writes) --------------------

bool readVarint(const std::string& b, size_t& i, uint64_t& v) {
  v = 0;
  for (int shift = 0; shift < 64 && i < b.size(); shift += 7) {
    uint8_t c = static_cast<uint8_t>(b[i++]);
    v |= static_cast<uint64_t>(c & 0x7f) << shift;
    if (!(c & 0x80)) return true;
  }
  return false;
}

// Fields of one message: number → raw bytes of length-delimited fields; varints and fixed64
// as their value. Unknown wire types make the message invalid.
struct Field {
  int wire;
  uint64_t num;
  std::string bytes;
};
bool parseFields(const std::string& b, std::vector<std::pair<uint64_t, Field>>& out) {
  size_t i = 0;
  while (i < b.size()) {
    uint64_t tag;
    if (!readVarint(b, i, tag)) return false;
    Field f{static_cast<int>(tag & 7), 0, {}};
    switch (f.wire) {
      case 0:
        if (!readVarint(b, i, f.num)) return false;
        break;
      case 1:
        if (i + 8 > b.size()) return false;
        memcpy(&f.num, b.data() + i, 8);
        i += 8;
        break;
      case 2: {
        uint64_t n;
        if (!readVarint(b, i, n) || n > b.size() - i) return false;
        f.bytes.assign(b, i, n);
        i += n;
        break;
      }
      case 5:
        if (i + 4 > b.size()) return false;
        i += 4;
        break;
      default:
        return false;
    }
    out.emplace_back(tag >> 3, std::move(f));
  }
  return true;
}

void putVarint(std::string& b, uint64_t v) {
  while (v >= 0x80) {
    b.push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  b.push_back(static_cast<char>(v));
}
void putBytes(std::string& b, int field, const std::string& v) {
  putVarint(b, (static_cast<uint64_t>(field) << 3) | 2);
  putVarint(b, v.size());
  b += v;
}

// ---- the Go library -----------------------------------------------------------------------

struct Library {
  std::string id, path;
  void* handle = nullptr;
  uint64_t (*newConfig)(go_http_config*);
  uint64_t (*mergeConfig)(uint64_t, uint64_t, uint64_t, uint64_t);
  void (*destroyConfig)(uint64_t, int64_t);
  uint64_t (*onHeader)(go_process_state*, uint64_t, uint64_t, uint64_t);
  uint64_t (*onData)(go_process_state*, uint64_t, uint64_t, uint64_t);
  void (*onLog)(go_http_request*, uint64_t, go_process_state*, go_process_state*, uint64_t, uint64_t, uint64_t,
                uint64_t, uint64_t, uint64_t, uint64_t, uint64_t);
  void (*onStreamComplete)(go_http_request*);
  void (*onDestroy)(go_http_request*, uint64_t);
  void (*semaDec)(go_http_request*);
};

std::mutex g_libs_mu;
std::map<std::string, Library*>* g_libs = new std::map<std::string, Library*>;  // never freed, as Go .so files

template <typename T>
bool resolve(void* h, const char* name, T& out, std::string& err) {
  out = reinterpret_cast<T>(dlsym(h, name));
  if (out == nullptr) {
    err += std::string(" ") + name;
    return false;
  }
  return true;
}

// loadLibrary dlopens a golang-filter library once per library id, as the golang filter does
// (a library is never unloaded). The host promoted itself to RTLD_GLOBAL at program init, so
// the library's undefined envoyGoFilter* symbols bind to this module's definitions.
Library* loadLibrary(const std::string& id, const std::string& path, std::string& err) {
  std::lock_guard<std::mutex> g(g_libs_mu);
  auto it = g_libs->find(id);
  if (it != g_libs->end()) {
    if (it->second->path != path) {
      err = "library_id " + id + " is already loaded from " + it->second->path + ", not " + path;
      return nullptr;
    }
    return it->second;
  }
  void* h = dlopen(path.c_str(), RTLD_LAZY);
  if (h == nullptr) {
    const char* e = dlerror();
    err = "dlopen " + path + ": " + (e ? e : "unknown error");
    return nullptr;
  }
  auto* l = new Library;
  l->id = id;
  l->path = path;
  l->handle = h;
  std::string missing;
  bool ok = true;
  ok &= resolve(h, "envoyGoFilterNewHttpPluginConfig", l->newConfig, missing);
  ok &= resolve(h, "envoyGoFilterMergeHttpPluginConfig", l->mergeConfig, missing);
  ok &= resolve(h, "envoyGoFilterDestroyHttpPluginConfig", l->destroyConfig, missing);
  ok &= resolve(h, "envoyGoFilterOnHttpHeader", l->onHeader, missing);
  ok &= resolve(h, "envoyGoFilterOnHttpData", l->onData, missing);
  ok &= resolve(h, "envoyGoFilterOnHttpLog", l->onLog, missing);
  ok &= resolve(h, "envoyGoFilterOnHttpStreamComplete", l->onStreamComplete, missing);
  ok &= resolve(h, "envoyGoFilterOnHttpDestroy", l->onDestroy, missing);
  ok &= resolve(h, "envoyGoRequestSemaDec", l->semaDec, missing);
  if (!ok) {
    err = path + " is not a golang-filter library (missing:" + missing + ")";
    delete l;  // the handle stays open: a Go runtime cannot be unloaded
    return nullptr;
  }
  (*g_libs)[id] = l;
  return l;
}

// ---- filter config ------------------------------------------------------------------------

enum MetricType { kCounter = 0, kGauge = 1, kHistogram = 2 };
struct Metric {
  int type;
  size_t envoy_id;
  std::atomic<int64_t> value{0};  // the golang API can read a metric back; dynamic modules cannot
};

struct Config {
  go_http_config c;  // first: the Go side holds &c and passes it back to the metric functions
  std::string plugin_name, library_id, any;
  Library* lib = nullptr;
  uint64_t config_id = 0;
  void* envoy = nullptr;  // the DynamicModuleHttpFilterConfig, valid until config_destroy
  std::mutex mu;
  bool alive = true;
  std::deque<Metric> metrics;
  std::atomic<int> refs{1};  // Envoy's, plus Go's until envoyGoConfigHttpFinalize
  void unref() {
    if (refs.fetch_sub(1) == 1) delete this;
  }
};

// Parses the host's filter config: the serialized golang filter Config message
// (envoy.extensions.filters.http.golang.v3alpha.Config: 1 library_id, 2 library_path,
// 3 plugin_name, 4 plugin_config Any), as a BytesValue or StringValue's content.
bool parseHostConfig(const std::string& b, std::string& id, std::string& path, std::string& plugin,
                     std::string& any, std::string& err) {
  std::vector<std::pair<uint64_t, Field>> fields;
  if (!parseFields(b, fields)) {
    err = "filter_config is not a serialized golang filter Config message";
    return false;
  }
  bool has_any = false;
  for (auto& [n, f] : fields) {
    if (f.wire != 2) continue;
    if (n == 1) id = f.bytes;
    if (n == 2) path = f.bytes;
    if (n == 3) plugin = f.bytes;
    if (n == 4) any = f.bytes, has_any = true;
    if (n == 5 || n == 6) {
      err = "filter_config: merge_policy and generic_secret_config are not supported";
      return false;
    }
  }
  if (id.empty() || path.empty() || plugin.empty()) {
    err = "filter_config: library_id, library_path and plugin_name are required";
    return false;
  }
  (void)has_any;  // an absent plugin_config is an empty Any, as in the golang filter
  return true;
}

// ---- streams ------------------------------------------------------------------------------

// The golang filter's per-direction state (values shared with the Go side's Phase()).
enum FilterState {
  WaitingHeader = 0,
  ProcessingHeader = 1,
  WaitingData = 2,
  WaitingAllData = 3,
  ProcessingData = 4,
  WaitingTrailer = 5,
  ProcessingTrailer = 6,
  Done = 7,
};
// Statuses the Go side returns (api.StatusType).
enum GolangStatus { Running = 0, LocalReply = 1, Continue = 2, StopAndBuffer = 3, StopAndBufferWatermark = 4, StopNoBuffer = 5 };

struct Stream;

struct Dir {
  go_process_state ps;  // first: the Go side holds &ps
  Stream* s = nullptr;
  bool enc = false;
  bool end_stream = false;     // Envoy delivered the end of this direction
  bool do_end_stream = false;  // the event in Go ends the direction
  bool headers_live = false;   // the golang filter's state.headers != nullptr
  bool trailers_seen = false;  // state.trailers != nullptr
  bool in_hook = false;        // inside this direction's Envoy hook (the received body is there)
  bool envoy_stopped = false;  // the last hook of this direction did not continue
  bool do_data_live = false;   // do_data is the buffer of the data event in Go
  std::string do_data;         // the data event's buffer (the last of the golang filter's doDataList)
  std::string held;            // earlier events' data kept (StopAndBuffer*, the rest of doDataList)
  std::string pending;         // data that arrived while Go was busy (its data_buffer_)
  uint64_t hdr_num = 0, hdr_bytes = 0, trl_num = 0, trl_bytes = 0;

  FilterState state() const { return static_cast<FilterState>(ps.state); }
  void set(FilterState st) { ps.state = st; }
  bool processing() const {
    return state() == ProcessingHeader || state() == ProcessingData || state() == ProcessingTrailer;
  }
  int headerType() const { return enc ? kResponseHeaders : kRequestHeaders; }
  int trailerType() const { return enc ? kResponseTrailers : kRequestTrailers; }
  int receivedBody() const { return enc ? kReceivedResponseBody : kReceivedRequestBody; }
  int bufferedBody() const { return enc ? kBufferedResponseBody : kBufferedRequestBody; }
  bool streamEnd() const { return end_stream || trailers_seen; }
};

struct Stream {
  go_http_request req;  // first: the Go side holds &req
  Config* cfg = nullptr;
  void* envoy = nullptr;
  void* sched = nullptr;
  std::thread::id worker;
  Dir dec, enc;
  std::mutex mu;
  bool destroyed = false;
  bool go_entered = false;
  int in_go = 0;                // depth of worker-thread calls into Go on this stream
  bool destroy_pending = false; // Envoy destroyed the stream during a call into Go
  bool complete_pending = false; // Envoy completed the stream during a call into Go
  std::deque<std::function<void()>> tasks;
  std::string value;          // the string a value getter hands to Go (copied by Go at once)
  std::atomic<int> refs{1};   // Envoy's, plus Go's from the first call into Go until Finalize
  ~Stream() { cfg->unref(); }
  void unref() {
    if (refs.fetch_sub(1) == 1) delete this;
  }
  bool onWorker() const { return std::this_thread::get_id() == worker; }
  bool processingInGo() const {
    return dec.processing() || enc.processing() || req.is_golang_processing_log.load() != 0;
  }
  Library* lib() const { return cfg->lib; }

  // post runs fn on the worker thread after the current call returns (the golang filter's
  // dispatcher().post); false once Envoy destroyed the stream.
  bool post(std::function<void()> fn) {
    std::lock_guard<std::mutex> g(mu);
    if (destroyed) return false;
    tasks.push_back(std::move(fn));
    envoy_dynamic_module_callback_http_filter_scheduler_commit(sched, 0);
    return true;
  }
  void runTasks() {
    for (;;) {
      std::function<void()> t;
      {
        std::lock_guard<std::mutex> g(mu);
        if (destroyed || tasks.empty()) return;
        t = std::move(tasks.front());
        tasks.pop_front();
      }
      t();
    }
  }
  // initRequest gives the request its config id before the first call into Go; from then on
  // the Go side owns a reference it drops in envoyGoFilterHttpFinalize.
  // goCall runs a call into Go on the worker. Envoy may complete and destroy the stream inside
  // it (a local reply after the response started resets the stream synchronously); the Go
  // side's OnStreamComplete and OnHttpDestroy then run once the outer call into Go returned:
  // inside it they would wait for the stream lock the Go filter holds during its callback.
  template <typename F>
  uint64_t goCall(F f) {
    in_go++;
    uint64_t r = f();
    if (--in_go == 0) {
      if (complete_pending) {
        complete_pending = false;
        streamComplete();
      }
      if (destroy_pending) {
        destroy_pending = false;
        lib()->onDestroy(&req, 1);
      }
    }
    return r;
  }
  void streamComplete() {
    req.is_golang_processing_log.store(1);
    in_go++;
    lib()->onStreamComplete(&req);
    in_go--;
    req.is_golang_processing_log.store(0);
  }
  void initRequest() {
    if (go_entered) return;
    go_entered = true;
    req.configId = cfg->config_id;
    refs.fetch_add(1);
  }
};

// Hold keeps a stream's memory for the length of an Envoy hook, which Envoy may end by
// destroying the stream.
struct Hold {
  Stream* s;
  explicit Hold(Stream* st) : s(st) { s->refs.fetch_add(1); }
  ~Hold() { s->unref(); }
};

Dir* dirOf(void* s) { return reinterpret_cast<Dir*>(s); }
Stream* streamOf(void* r) { return reinterpret_cast<Stream*>(r); }

void countHeaders(void* envoy, int type, uint64_t& num, uint64_t& bytes) {
  size_t n = envoy_dynamic_module_callback_http_get_headers_size(envoy, type);
  std::vector<dm_header> hs(n);
  num = bytes = 0;
  if (n == 0 || !envoy_dynamic_module_callback_http_get_headers(envoy, type, hs.data())) return;
  num = n;
  for (auto& h : hs) bytes += h.key_length + h.value_length;
}

std::string readBody(void* envoy, int type) {
  std::string out;
  size_t n = envoy_dynamic_module_callback_http_get_body_chunks_size(envoy, type);
  if (n == 0) return out;
  std::vector<dm_buf> chunks(n);
  if (!envoy_dynamic_module_callback_http_get_body_chunks(envoy, type, chunks.data())) return out;
  for (auto& c : chunks) out.append(c.ptr, c.length);
  return out;
}

// ---- the golang filter's state machine (worker thread only) -------------------------------

bool handleHeaderStatus(Dir& d, uint64_t st) {
  switch (st) {
    case Continue:
      d.set(d.do_end_stream ? Done : WaitingData);
      return true;
    case StopAndBuffer:
      d.set(WaitingAllData);
      return false;
    case StopAndBufferWatermark:
      d.set(WaitingData);
      return false;
    case LocalReply:
    case Running:
      return false;
    default:
      logf(kError, "unexpected header status %llu", static_cast<unsigned long long>(st));
      return false;
  }
}

bool handleDataStatus(Dir& d, uint64_t st) {
  bool done = false;
  switch (st) {
    case LocalReply:
    case Running:
      return false;
    case Continue:
      d.set(d.do_end_stream ? Done : WaitingData);
      done = true;
      break;
    case StopAndBuffer:
      if (d.do_end_stream) logf(kError, "want more data while stream is end");
      d.set(WaitingAllData);
      break;
    case StopAndBufferWatermark:
      if (d.do_end_stream) logf(kError, "want more data while stream is end");
      d.set(WaitingData);
      break;
    case StopNoBuffer:
      if (d.do_end_stream) logf(kError, "want more data while stream is end");
      d.do_data.clear();
      d.do_data_live = false;
      d.set(WaitingData);
      break;
    default:
      logf(kError, "unexpected data status %llu", static_cast<unsigned long long>(st));
      break;
  }
  if (d.trailers_seen && d.pending.empty()) d.set(WaitingTrailer);
  return done;
}

bool handleTrailerStatus(Dir& d, uint64_t st) {
  if (st == Continue) {
    d.set(Done);
    return true;
  }
  if (st != LocalReply && st != Running) logf(kError, "unexpected trailer status %llu", static_cast<unsigned long long>(st));
  return false;
}

bool doHeaders(Dir& d, bool end_stream) {
  Stream& s = *d.s;
  d.headers_live = true;
  d.set(ProcessingHeader);
  d.do_end_stream = end_stream;
  countHeaders(s.envoy, d.headerType(), d.hdr_num, d.hdr_bytes);
  s.initRequest();
  uint64_t st = s.goCall([&] { return s.lib()->onHeader(&d.ps, end_stream ? 1 : 0, d.hdr_num, d.hdr_bytes); });
  bool done = handleHeaderStatus(d, st);
  if (done) d.headers_live = false;
  return done;
}

bool doDataGo(Dir& d, std::string data, bool end_stream) {
  Stream& s = *d.s;
  d.set(ProcessingData);
  d.do_end_stream = end_stream;
  if (d.do_data_live) d.held += d.do_data;
  d.do_data = std::move(data);
  d.do_data_live = true;
  s.initRequest();
  uint64_t st = s.goCall(
      [&] { return s.lib()->onData(&d.ps, end_stream ? 1 : 0, reinterpret_cast<uint64_t>(&d.do_data), d.do_data.size()); });
  return handleDataStatus(d, st);
}

bool doTrailerGo(Dir& d) {
  Stream& s = *d.s;
  d.set(ProcessingTrailer);
  d.do_end_stream = true;
  countHeaders(s.envoy, d.trailerType(), d.trl_num, d.trl_bytes);
  s.initRequest();
  uint64_t st = s.goCall([&] { return s.lib()->onHeader(&d.ps, 1, d.trl_num, d.trl_bytes); });
  return handleTrailerStatus(d, st);
}

void localReplyTooLarge(Dir& d);

// addBuffer keeps data that arrived while Go is busy or while the filter waits for the whole
// body; past the stream's buffer limit a whole-body wait answers 413 (request) or 500
// (response), as the golang filter's watermark buffer does.
void addBuffer(Dir& d, const std::string& data) {
  d.pending += data;
  if (d.s->destroyed) return;
  uint64_t limit = envoy_dynamic_module_callback_http_get_buffer_limit(d.s->envoy);
  if (limit > 0 && d.pending.size() > limit && d.state() == WaitingAllData) localReplyTooLarge(d);
}

// emit hands the data event's buffer back to Envoy's filter chain: inside this direction's
// body hook as the received body; otherwise appended to the body Envoy buffers for this filter
// (it flows on when the direction resumes).
void emit(Dir& d) {
  if (d.s->destroyed) return;
  std::string out = std::move(d.held);
  if (d.do_data_live) out += d.do_data;
  d.held.clear();
  d.do_data.clear();
  d.do_data_live = false;
  if (out.empty()) return;
  int type = d.in_hook ? d.receivedBody() : d.bufferedBody();
  if (!envoy_dynamic_module_callback_http_append_body(d.s->envoy, type, view(out)))
    logf(kError, "could not hand %zu body bytes back to Envoy", out.size());
}

void resume(Dir& d) {
  if (!d.envoy_stopped || d.s->destroyed) return;
  d.envoy_stopped = false;
  if (d.enc)
    envoy_dynamic_module_callback_http_filter_continue_encoding(d.s->envoy);
  else
    envoy_dynamic_module_callback_http_filter_continue_decoding(d.s->envoy);
}

bool doData(Dir& d, std::string chunk, bool end_stream) {
  bool done = false;
  switch (d.state()) {
    case WaitingData:
      done = doDataGo(d, std::move(chunk), end_stream);
      break;
    case WaitingAllData:
      if (end_stream) {
        if (!d.pending.empty()) {
          d.pending += chunk;
          chunk = std::move(d.pending);
          d.pending.clear();
        }
        done = doDataGo(d, std::move(chunk), end_stream);
        break;
      }
      [[fallthrough]];
    case ProcessingHeader:
    case ProcessingData:
      addBuffer(d, chunk);
      break;
    default:
      logf(kDebug, "data in state %d dropped", d.state());
      break;
  }
  return done;
}

// continueStatus is the golang filter's continueStatusInternal: Go ended an asynchronous
// event with status; run what is waiting (buffered data, trailers) and resume Envoy when Go
// holds nothing.
void continueStatus(Dir& d, uint64_t status) {
  Stream& s = *d.s;
  FilterState saved = d.state();
  bool done = false;
  switch (saved) {
    case ProcessingHeader:
      done = handleHeaderStatus(d, status);
      if (done) d.headers_live = false;
      break;
    case ProcessingData:
      done = handleDataStatus(d, status);
      break;
    case ProcessingTrailer:
      done = handleTrailerStatus(d, status);
      break;
    default:
      return;
  }
  if (s.destroyed) return;
  if (done) emit(d);
  FilterState cur = d.state();
  if ((cur == WaitingData && (!d.pending.empty() || d.end_stream)) || (cur == WaitingAllData && d.streamEnd())) {
    std::string data = std::move(d.pending);
    d.pending.clear();
    if (!doDataGo(d, std::move(data), d.end_stream) || s.destroyed) return;
    emit(d);
  }
  if (d.state() == WaitingTrailer && d.trailers_seen) {
    if (!doTrailerGo(d) || s.destroyed) return;
  }
  if (!d.processing() && d.state() != WaitingAllData && d.state() != WaitingHeader) resume(d);
}

// sendLocalReply answers the stream (the golang filter's sendLocalReplyInternal): buffered data
// is dropped and the decoding side goes back to WaitingHeader.
void sendLocalReply(Dir& d, int code, const std::string& body, const std::vector<std::string>& hdrs,
                    const std::string& details) {
  if (d.s->destroyed) return;
  d.do_data.clear();
  d.do_data_live = false;
  d.held.clear();
  d.pending.clear();
  if (!d.enc) d.set(WaitingHeader);
  std::vector<dm_header> hs;
  for (size_t i = 0; i + 1 < hdrs.size(); i += 2) {
    if (hdrs[i + 1].empty()) continue;
    hs.push_back(dm_header{hdrs[i].data(), hdrs[i].size(), hdrs[i + 1].data(), hdrs[i + 1].size()});
  }
  d.envoy_stopped = false;
  envoy_dynamic_module_callback_http_send_response(d.s->envoy, static_cast<uint32_t>(code), hs.data(), hs.size(),
                                                   view(body), view(details));
}

void localReplyTooLarge(Dir& d) {
  if (d.enc)
    sendLocalReply(d, 500, "Internal Server Error", {}, "response_payload_too_large");
  else
    sendLocalReply(d, 413, "Payload Too Large", {}, "request_payload_too_large");
}

// ---- CAPI helpers ---------------------------------------------------------------------------

// checkState is the golang filter's process-state guard: the stream is alive and this
// direction (or the log phase) is being processed in Go. Called with s.mu held.
int checkState(Dir& d) {
  if (d.s->destroyed) return CAPIFilterIsDestroy;
  if (!d.processing() && d.s->req.is_golang_processing_log.load() == 0) return CAPINotInGo;
  return CAPIOK;
}
int checkRequest(Stream& s) {
  if (s.destroyed) return CAPIFilterIsGone;
  if (!s.processingInGo()) return CAPINotInGo;
  return CAPIOK;
}

std::vector<std::string> goStrings(void* data, int n) {
  std::vector<std::string> out;
  auto* strs = static_cast<go_string*>(data);
  for (int i = 0; i + 1 < n; i += 2) {
    out.emplace_back(strs[i].p, strs[i].n);
    out.emplace_back(strs[i + 1].p, strs[i + 1].n);
  }
  return out;
}

int copyHeaderMap(Stream& s, int type, uint64_t max_num, uint64_t max_bytes, void* strs, void* buf) {
  size_t n = envoy_dynamic_module_callback_http_get_headers_size(s.envoy, type);
  std::vector<dm_header> hs(n);
  if (n > 0 && !envoy_dynamic_module_callback_http_get_headers(s.envoy, type, hs.data())) n = 0;
  auto* out = static_cast<go_string*>(strs);
  char* b = static_cast<char*>(buf);
  uint64_t used = 0;
  // The Go side sized its buffers from the counts given with the event; never write past them.
  for (size_t i = 0; i < n && i < max_num; i++) {
    const dm_header& h = hs[i];
    if (used + h.key_length + h.value_length > max_bytes) break;
    memcpy(b + used, h.key_ptr, h.key_length);
    out[2 * i] = go_string{b + used, static_cast<ptrdiff_t>(h.key_length)};
    used += h.key_length;
    if (h.value_length > 0) memcpy(b + used, h.value_ptr, h.value_length);
    out[2 * i + 1] = go_string{h.value_length > 0 ? b + used : nullptr, static_cast<ptrdiff_t>(h.value_length)};
    used += h.value_length;
  }
  return CAPIOK;
}

// Attributes behind GetProperty (Envoy attribute names → dynamic-modules attribute ids).
enum AttrKind { kString, kInt, kBool };
struct Attr {
  int id;
  AttrKind kind;
};
const std::map<std::string, Attr>& attributes() {
  static const auto* m = new std::map<std::string, Attr>{
      {"request.path", {0, kString}},
      {"request.url_path", {1, kString}},
      {"request.host", {2, kString}},
      {"request.scheme", {3, kString}},
      {"request.method", {4, kString}},
      {"request.referer", {6, kString}},
      {"request.useragent", {7, kString}},
      {"request.id", {9, kString}},
      {"request.protocol", {10, kString}},
      {"request.query", {11, kString}},
      {"request.size", {13, kInt}},
      {"request.total_size", {14, kInt}},
      {"response.code", {15, kInt}},
      {"response.code_details", {16, kString}},
      {"response.flags", {17, kInt}},
      {"response.grpc_status", {18, kInt}},
      {"response.size", {21, kInt}},
      {"response.total_size", {22, kInt}},
      {"source.address", {24, kString}},
      {"source.port", {25, kInt}},
      {"destination.address", {26, kString}},
      {"destination.port", {27, kInt}},
      {"connection.id", {28, kInt}},
      {"connection.mtls", {29, kBool}},
      {"connection.requested_server_name", {30, kString}},
      {"connection.tls_version", {31, kString}},
      {"connection.termination_details", {40, kString}},
      {"upstream.address", {41, kString}},
      {"upstream.port", {42, kInt}},
      {"upstream.local_address", {51, kString}},
      {"upstream.transport_failure_reason", {52, kString}},
      {"upstream.request_attempt_count", {53, kInt}},
      {"xds.cluster_name", {57, kString}},
      {"xds.route_name", {61, kString}},
      {"xds.virtual_host_name", {63, kString}},
      {"xds.filter_chain_name", {66, kString}},
  };
  return *m;
}

int attribute(Stream& s, const std::string& name, std::string& out) {
  auto it = attributes().find(name);
  if (it == attributes().end()) return CAPIValueNotFound;
  const Attr& a = it->second;
  switch (a.kind) {
    case kString: {
      dm_buf v{nullptr, 0};
      if (!envoy_dynamic_module_callback_http_filter_get_attribute_string(s.envoy, a.id, &v)) return CAPIValueNotFound;
      out.assign(v.ptr ? v.ptr : "", v.length);
      return CAPIOK;
    }
    case kInt: {
      uint64_t v = 0;
      if (!envoy_dynamic_module_callback_http_filter_get_attribute_int(s.envoy, a.id, &v)) return CAPIValueNotFound;
      out = std::to_string(static_cast<int64_t>(v));
      return CAPIOK;
    }
    case kBool: {
      bool v = false;
      if (!envoy_dynamic_module_callback_http_filter_get_attribute_bool(s.envoy, a.id, &v)) return CAPIValueNotFound;
      out = v ? "true" : "false";
      return CAPIOK;
    }
  }
  return CAPIValueNotFound;
}

// The stream-info values of envoyGoFilterHttpGetStringValue / GetIntegerValue (the golang
// API's ValueRouteName = 1 … ValueVirtualClusterName = 12) as attributes.
const char* valueAttribute(int id) {
  switch (id) {
    case 1: return "xds.route_name";
    case 2: return "xds.filter_chain_name";
    case 3: return "request.protocol";
    case 4: return "response.code";
    case 5: return "response.code_details";
    case 6: return "upstream.request_attempt_count";
    case 7: return "destination.address";
    case 8: return "source.address";
    case 9: return "upstream.local_address";
    case 10: return "upstream.address";
    case 11: return "xds.cluster_name";
    default: return nullptr;
  }
}

// Encodes one metadata namespace as a google.protobuf.Struct (string, number and bool
// values; nested structs and lists are not readable through dynamic modules).
std::string metadataStruct(Stream& s, const std::string& ns) {
  std::string out;
  size_t n = envoy_dynamic_module_callback_http_get_metadata_keys_count(s.envoy, kMetadataDynamic, view(ns));
  if (n == 0) return out;
  std::vector<dm_buf> keys(n);
  if (!envoy_dynamic_module_callback_http_get_metadata_keys(s.envoy, kMetadataDynamic, view(ns), keys.data())) return out;
  std::vector<std::string> names;
  for (auto& k : keys) names.emplace_back(k.ptr, k.length);
  for (auto& k : names) {
    std::string value;  // google.protobuf.Value
    dm_buf sv{nullptr, 0};
    double num;
    bool bv;
    if (envoy_dynamic_module_callback_http_get_metadata_string(s.envoy, kMetadataDynamic, view(ns), view(k), &sv)) {
      putBytes(value, 3, std::string(sv.ptr ? sv.ptr : "", sv.length));
    } else if (envoy_dynamic_module_callback_http_get_metadata_number(s.envoy, kMetadataDynamic, view(ns), view(k), &num)) {
      putVarint(value, (2 << 3) | 1);
      char raw[8];
      memcpy(raw, &num, 8);
      value.append(raw, 8);
    } else if (envoy_dynamic_module_callback_http_get_metadata_bool(s.envoy, kMetadataDynamic, view(ns), view(k), &bv)) {
      putVarint(value, (4 << 3) | 0);
      putVarint(value, bv ? 1 : 0);
    } else {
      continue;
    }
    std::string entry;
    putBytes(entry, 1, k);
    putBytes(entry, 2, value);
    putBytes(out, 1, entry);
  }
  return out;
}

// Sets one dynamic metadata key from a serialized google.protobuf.Value.
bool setMetadata(Stream& s, const std::string& ns, const std::string& key, const std::string& value) {
  std::vector<std::pair<uint64_t, Field>> fields;
  if (!parseFields(value, fields) || fields.empty()) return false;
  auto& [n, f] = fields.back();
  if (n == 2 && f.wire == 1) {
    double d;
    memcpy(&d, &f.num, 8);
    envoy_dynamic_module_callback_http_set_dynamic_metadata_number(s.envoy, view(ns), view(key), d);
    return true;
  }
  if (n == 3 && f.wire == 2) {
    envoy_dynamic_module_callback_http_set_dynamic_metadata_string(s.envoy, view(ns), view(key), view(f.bytes));
    return true;
  }
  if (n == 4 && f.wire == 0) {
    envoy_dynamic_module_callback_http_set_dynamic_metadata_bool(s.envoy, view(ns), view(key), f.num != 0);
    return true;
  }
  return false;
}

void promoteSelf() {
  Dl_info info;
  if (dladdr(reinterpret_cast<void*>(&promoteSelf), &info) == 0 || info.dli_fname == nullptr) return;
  // Envoy opened this module RTLD_LOCAL; reopening it RTLD_GLOBAL makes its envoyGoFilter*
  // definitions visible to libraries loaded later, which is how the Go library binds to them.
  if (dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD | RTLD_GLOBAL) == nullptr) {
    const char* e = dlerror();
    fprintf(stderr, "golanghost: cannot promote %s to RTLD_GLOBAL: %s\n", info.dli_fname, e ? e : "");
  }
}

}  // namespace

// =============================== dynamic-module hooks ======================================

EXPORT const char* envoy_dynamic_module_on_program_init() {
  promoteSelf();
  return "v0.1.0";
}

EXPORT const void* envoy_dynamic_module_on_http_filter_config_new(void* envoy_cfg, dm_buf name, dm_buf config) {
  std::string err, id, path, plugin, any;
  if (!parseHostConfig(std::string(config.ptr ? config.ptr : "", config.length), id, path, plugin, any, err)) {
    logf(kError, "filter %.*s: %s", static_cast<int>(name.length), name.ptr, err.c_str());
    return nullptr;
  }
  Library* lib = loadLibrary(id, path, err);
  if (lib == nullptr) {
    logf(kError, "filter %.*s: %s", static_cast<int>(name.length), name.ptr, err.c_str());
    return nullptr;
  }
  auto* c = new Config;
  c->lib = lib;
  c->plugin_name = plugin;
  c->library_id = id;
  c->any = any;
  c->envoy = envoy_cfg;
  c->c.plugin_name_ptr = reinterpret_cast<uint64_t>(c->plugin_name.data());
  c->c.plugin_name_len = c->plugin_name.size();
  c->c.config_ptr = reinterpret_cast<uint64_t>(c->any.data());
  c->c.config_len = c->any.size();
  c->c.is_route_config = 0;
  c->c.concurrency = envoy_dynamic_module_callback_get_concurrency();
  if (c->c.concurrency == 0) c->c.concurrency = 1;
  c->refs.fetch_add(1);  // the Go side keeps &c->c until envoyGoConfigHttpFinalize
  c->config_id = lib->newConfig(&c->c);
  if (c->config_id == 0) {
    logf(kError, "filter %.*s: plugin %s of %s rejected its config", static_cast<int>(name.length), name.ptr,
         plugin.c_str(), path.c_str());
    {
      std::lock_guard<std::mutex> g(c->mu);
      c->alive = false;
    }
    c->unref();
    return nullptr;
  }
  return c;
}

EXPORT void envoy_dynamic_module_on_http_filter_config_destroy(const void* p) {
  auto* c = const_cast<Config*>(static_cast<const Config*>(p));
  {
    std::lock_guard<std::mutex> g(c->mu);
    c->alive = false;
  }
  if (c->config_id != 0) c->lib->destroyConfig(c->config_id, 0);
  c->unref();
}

EXPORT const void* envoy_dynamic_module_on_http_filter_per_route_config_new(dm_buf name, dm_buf) {
  logf(kError, "filter %.*s: per-route golang plugin config is not supported by golanghost",
       static_cast<int>(name.length), name.ptr);
  return nullptr;
}
EXPORT void envoy_dynamic_module_on_http_filter_per_route_config_destroy(const void*) {}

EXPORT const void* envoy_dynamic_module_on_http_filter_new(const void* cfgp, void* envoy) {
  auto* c = const_cast<Config*>(static_cast<const Config*>(cfgp));
  auto* s = new Stream;
  s->cfg = c;
  c->refs.fetch_add(1);
  s->envoy = envoy;
  s->worker = std::this_thread::get_id();
  s->sched = envoy_dynamic_module_callback_http_filter_scheduler_new(envoy);
  s->req.plugin_name = go_cstring{c->plugin_name.data(), c->plugin_name.size()};
  s->req.configId = 0;
  s->req.worker_id = envoy_dynamic_module_callback_http_filter_get_worker_index(envoy);
  s->req.is_golang_processing_log.store(0);
  for (Dir* d : {&s->dec, &s->enc}) {
    d->s = s;
    d->enc = d == &s->enc;
    d->ps.req = &s->req;
    d->ps.is_encoding = d->enc ? 1 : 0;
    d->set(WaitingHeader);
  }
  return s;
}

namespace {
int headersHook(Stream* s, Dir& d, bool end_stream) {
  Hold hold(s);
  d.end_stream = end_stream;
  d.in_hook = true;
  bool done = doHeaders(d, end_stream);
  d.in_hook = false;
  d.envoy_stopped = !done;
  return done ? kHeadersContinue : kHeadersStopIteration;
  (void)s;
}

int bodyHook(Stream* s, Dir& d, bool end_stream) {
  Hold hold(s);
  d.end_stream = end_stream;
  // The host keeps the bytes (as the golang filter keeps its own buffers): the received chunk
  // is moved out of Envoy and moved back when Go lets it go.
  std::string chunk = readBody(s->envoy, d.receivedBody());
  if (!chunk.empty()) envoy_dynamic_module_callback_http_drain_body(s->envoy, d.receivedBody(), chunk.size());
  if (envoy_dynamic_module_callback_log_enabled(kDebug))
    logf(kDebug, "%s body: %zu bytes received (end %d), %zu buffered by Envoy, state %d", d.enc ? "response" : "request",
         chunk.size(), end_stream ? 1 : 0, envoy_dynamic_module_callback_http_get_body_size(s->envoy, d.bufferedBody()),
         d.state());
  d.in_hook = true;
  bool done = doData(d, std::move(chunk), end_stream);
  if (done) emit(d);
  d.in_hook = false;
  if (done) {
    d.envoy_stopped = false;
    return kBodyContinue;
  }
  d.envoy_stopped = true;
  return d.state() == WaitingData ? kBodyStopIterationAndWatermark : kBodyStopIterationAndBuffer;
}

int trailersHook(Stream* s, Dir& d) {
  Hold hold(s);
  d.trailers_seen = true;
  d.in_hook = false;  // body emitted from here goes into Envoy's buffered body
  bool done = false;
  switch (d.state()) {
    case WaitingTrailer:
    case WaitingData:
      done = doTrailerGo(d);
      break;
    case WaitingAllData:
      if (!d.pending.empty()) {
        std::string data = std::move(d.pending);
        d.pending.clear();
        done = doDataGo(d, std::move(data), false);
        if (d.state() == WaitingTrailer) {
          emit(d);
          done = doTrailerGo(d);
        }
      } else {
        emit(d);
        done = doTrailerGo(d);
      }
      break;
    default:
      break;
  }
  d.envoy_stopped = !done;
  return done ? kTrailersContinue : kTrailersStopIteration;
  (void)s;
}
}  // namespace

EXPORT int envoy_dynamic_module_on_http_filter_request_headers(void*, const void* p, bool end_stream) {
  auto* s = const_cast<Stream*>(static_cast<const Stream*>(p));
  return headersHook(s, s->dec, end_stream);
}
EXPORT int envoy_dynamic_module_on_http_filter_request_body(void*, const void* p, bool end_stream) {
  auto* s = const_cast<Stream*>(static_cast<const Stream*>(p));
  return bodyHook(s, s->dec, end_stream);
}
EXPORT int envoy_dynamic_module_on_http_filter_request_trailers(void*, const void* p) {
  auto* s = const_cast<Stream*>(static_cast<const Stream*>(p));
  return trailersHook(s, s->dec);
}
EXPORT int envoy_dynamic_module_on_http_filter_response_headers(void*, const void* p, bool end_stream) {
  auto* s = const_cast<Stream*>(static_cast<const Stream*>(p));
  return headersHook(s, s->enc, end_stream);
}
EXPORT int envoy_dynamic_module_on_http_filter_response_body(void*, const void* p, bool end_stream) {
  auto* s = const_cast<Stream*>(static_cast<const Stream*>(p));
  return bodyHook(s, s->enc, end_stream);
}
EXPORT int envoy_dynamic_module_on_http_filter_response_trailers(void*, const void* p) {
  auto* s = const_cast<Stream*>(static_cast<const Stream*>(p));
  return trailersHook(s, s->enc);
}

EXPORT void envoy_dynamic_module_on_http_filter_stream_complete(void*, const void* p) {
  auto* s = const_cast<Stream*>(static_cast<const Stream*>(p));
  if (!s->go_entered) return;
  Hold hold(s);
  if (s->in_go > 0) {
    s->complete_pending = true;  // inside a call into Go: see Stream::goCall
    return;
  }
  s->streamComplete();
}

EXPORT void envoy_dynamic_module_on_http_filter_destroy(const void* p) {
  auto* s = const_cast<Stream*>(static_cast<const Stream*>(p));
  bool terminate = s->dec.processing() || s->enc.processing();
  {
    std::lock_guard<std::mutex> g(s->mu);
    s->destroyed = true;
    s->tasks.clear();
    envoy_dynamic_module_callback_http_filter_scheduler_delete(s->sched);
    s->sched = nullptr;
  }
  if (s->go_entered) {
    if (s->in_go > 0)
      s->destroy_pending = true;  // inside a call into Go: see Stream::goCall
    else
      s->lib()->onDestroy(&s->req, terminate ? 1 : 0);
  }
  s->unref();  // Go's reference (if any) keeps the memory until envoyGoFilterHttpFinalize
}

EXPORT void envoy_dynamic_module_on_http_filter_scheduled(void*, const void* p, uint64_t) {
  auto* s = const_cast<Stream*>(static_cast<const Stream*>(p));
  Hold hold(s);
  s->runTasks();
}

EXPORT void envoy_dynamic_module_on_http_filter_http_callout_done(void*, const void*, uint64_t, int, dm_header*, size_t,
                                                                  dm_buf*, size_t) {}
EXPORT void envoy_dynamic_module_on_http_filter_http_stream_headers(void*, const void*, uint64_t, dm_header*, size_t,
                                                                    bool) {}
EXPORT void envoy_dynamic_module_on_http_filter_http_stream_data(void*, const void*, uint64_t, const dm_buf*, size_t,
                                                                 bool) {}
EXPORT void envoy_dynamic_module_on_http_filter_http_stream_trailers(void*, const void*, uint64_t, dm_header*, size_t) {}
EXPORT void envoy_dynamic_module_on_http_filter_http_stream_complete(void*, const void*, uint64_t) {}
EXPORT void envoy_dynamic_module_on_http_filter_http_stream_reset(void*, const void*, uint64_t, int) {}
EXPORT void envoy_dynamic_module_on_http_filter_downstream_above_write_buffer_high_watermark(void*, const void*) {}
EXPORT void envoy_dynamic_module_on_http_filter_downstream_below_write_buffer_low_watermark(void*, const void*) {}
EXPORT int envoy_dynamic_module_on_http_filter_local_reply(void*, const void*, uint32_t, dm_buf, bool) {
  return kLocalReplyContinue;
}

// ========================= the golang filter's C interface =================================

EXPORT int envoyGoFilterHttpContinue(void* sp, int status) {
  Dir& d = *dirOf(sp);
  Stream& s = *d.s;
  {
    std::lock_guard<std::mutex> g(s.mu);
    int rc = checkState(d);
    if (rc != CAPIOK) return rc;
  }
  // Always run after the current call into Go returned (from a goroutine, on the worker; on the
  // worker inside a callback, once the callback's status has been handled).
  Dir* dp = &d;
  s.post([dp, status] { continueStatus(*dp, static_cast<uint64_t>(status)); });
  return CAPIOK;
}

EXPORT int envoyGoFilterHttpSendLocalReply(void* sp, int code, void* body, int body_len, void* headers, int headers_num,
                                           long long, void* details, int details_len) {
  Dir& d = *dirOf(sp);
  Stream& s = *d.s;
  {
    std::lock_guard<std::mutex> g(s.mu);
    int rc = checkState(d);
    if (rc != CAPIOK) return rc;
  }
  std::string b(static_cast<const char*>(body), body_len > 0 ? body_len : 0);
  std::string det(static_cast<const char*>(details), details_len > 0 ? details_len : 0);
  std::vector<std::string> hs = goStrings(headers, headers_num);
  if (s.onWorker()) {
    sendLocalReply(d, code, b, hs, det);
    return CAPIOK;
  }
  Dir* dp = &d;
  s.post([dp, code, b, hs, det] { sendLocalReply(*dp, code, b, hs, det); });
  return CAPIOK;
}

EXPORT int envoyGoFilterHttpSendPanicReply(void* sp, void* details, int details_len) {
  Dir& d = *dirOf(sp);
  logf(kError, "[go_plugin_http][%s] filter paniced with error details: %.*s", d.s->cfg->plugin_name.c_str(),
       details_len, static_cast<const char*>(details));
  static const char kBody[] = "error happened in filter\r\n";
  return envoyGoFilterHttpSendLocalReply(sp, 500, const_cast<char*>(kBody), sizeof kBody - 1, nullptr, 0, 0,
                                         const_cast<char*>(""), 0);
}

EXPORT int envoyGoFilterHttpAddData(void* sp, void* data, int len, bool) {
  Dir& d = *dirOf(sp);
  Stream& s = *d.s;
  if (d.state() == ProcessingData) return CAPIInvalidPhase;
  {
    std::lock_guard<std::mutex> g(s.mu);
    int rc = checkState(d);
    if (rc != CAPIOK) return rc;
  }
  std::string v(static_cast<const char*>(data), len > 0 ? len : 0);
  Dir* dp = &d;
  auto add = [dp, v] {
    if (!envoy_dynamic_module_callback_http_append_body(dp->s->envoy, dp->bufferedBody(), view(v)))
      logf(kError, "addData: Envoy has no body buffer for this direction yet");
  };
  if (s.onWorker()) {
    add();
    return CAPIOK;
  }
  s.post(add);
  return CAPIYield;
}

EXPORT int envoyGoFilterHttpInjectData(void* sp, void*, int) {
  Dir& d = *dirOf(sp);
  std::lock_guard<std::mutex> g(d.s->mu);
  int rc = checkState(d);
  if (rc != CAPIOK) return rc;
  if (d.state() != ProcessingData) return CAPIInvalidPhase;
  logf(kError, "injectData is not supported by golanghost (dynamic modules cannot inject body data)");
  return CAPIInvalidScene;
}

EXPORT int envoyGoFilterHttpGetHeader(void* sp, void* key, int key_len, uint64_t* value_data, int* value_len) {
  Dir& d = *dirOf(sp);
  std::lock_guard<std::mutex> g(d.s->mu);
  int rc = checkState(d);
  if (rc != CAPIOK) return rc;
  if (!d.headers_live) return CAPIInvalidPhase;
  std::string k(static_cast<const char*>(key), key_len);
  for (auto& ch : k) ch = static_cast<char>(tolower(static_cast<unsigned char>(ch)));
  dm_buf v{nullptr, 0};
  if (envoy_dynamic_module_callback_http_get_header(d.s->envoy, d.headerType(), view(k), &v, 0, nullptr) && v.ptr) {
    *value_data = reinterpret_cast<uint64_t>(v.ptr);
    *value_len = static_cast<int>(v.length);
  }
  return CAPIOK;
}

EXPORT int envoyGoFilterHttpCopyHeaders(void* sp, void* strs, void* buf) {
  Dir& d = *dirOf(sp);
  std::lock_guard<std::mutex> g(d.s->mu);
  int rc = checkState(d);
  if (rc != CAPIOK) return rc;
  if (!d.headers_live) return CAPIInvalidPhase;
  return copyHeaderMap(*d.s, d.headerType(), d.hdr_num, d.hdr_bytes, strs, buf);
}

namespace {
int setHeaderOn(Dir& d, int type, bool live, void* key, int key_len, void* value, int value_len, int act, bool remove) {
  Stream& s = *d.s;
  {
    std::lock_guard<std::mutex> g(s.mu);
    int rc = checkState(d);
    if (rc != CAPIOK) return rc;
    if (!live) return CAPIInvalidPhase;
  }
  std::string k(static_cast<const char*>(key), key_len);
  for (auto& ch : k) ch = static_cast<char>(tolower(static_cast<unsigned char>(ch)));
  std::string v = remove ? std::string() : std::string(static_cast<const char*>(value), value_len > 0 ? value_len : 0);
  void* envoy = s.envoy;
  auto apply = [envoy, type, k, v, act, remove] {
    if (remove)
      envoy_dynamic_module_callback_http_set_header(envoy, type, view(k), dm_buf{nullptr, 0});
    else if (act == 1)
      envoy_dynamic_module_callback_http_add_header(envoy, type, view(k), view(v));
    else
      envoy_dynamic_module_callback_http_set_header(envoy, type, view(k), view(v));
  };
  if (s.onWorker())
    apply();
  else
    s.post(apply);
  return CAPIOK;
}
}  // namespace

EXPORT int envoyGoFilterHttpSetHeaderHelper(void* sp, void* key, int key_len, void* value, int value_len, int act) {
  Dir& d = *dirOf(sp);
  return setHeaderOn(d, d.headerType(), d.headers_live, key, key_len, value, value_len, act, false);
}
EXPORT int envoyGoFilterHttpRemoveHeader(void* sp, void* key, int key_len) {
  Dir& d = *dirOf(sp);
  return setHeaderOn(d, d.headerType(), d.headers_live, key, key_len, nullptr, 0, 0, true);
}

EXPORT int envoyGoFilterHttpCopyTrailers(void* sp, void* strs, void* buf) {
  Dir& d = *dirOf(sp);
  std::lock_guard<std::mutex> g(d.s->mu);
  int rc = checkState(d);
  if (rc != CAPIOK) return rc;
  if (!d.trailers_seen) return CAPIInvalidPhase;
  return copyHeaderMap(*d.s, d.trailerType(), d.trl_num, d.trl_bytes, strs, buf);
}
EXPORT int envoyGoFilterHttpSetTrailer(void* sp, void* key, int key_len, void* value, int value_len, int act) {
  Dir& d = *dirOf(sp);
  return setHeaderOn(d, d.trailerType(), d.trailers_seen, key, key_len, value, value_len, act, false);
}
EXPORT int envoyGoFilterHttpRemoveTrailer(void* sp, void* key, int key_len) {
  Dir& d = *dirOf(sp);
  return setHeaderOn(d, d.trailerType(), d.trailers_seen, key, key_len, nullptr, 0, 0, true);
}

namespace {
// checkBuffer guards the data event's buffer: only the buffer Go got with the current data
// event is valid (the golang filter's doDataList.checkExisting).
int checkBuffer(Dir& d, uint64_t buffer) {
  int rc = checkState(d);
  if (rc != CAPIOK) return rc;
  if (!d.do_data_live || buffer != reinterpret_cast<uint64_t>(&d.do_data)) return CAPIInvalidPhase;
  return CAPIOK;
}
}  // namespace

EXPORT int envoyGoFilterHttpGetBuffer(void* sp, uint64_t buffer, void* out) {
  Dir& d = *dirOf(sp);
  std::lock_guard<std::mutex> g(d.s->mu);
  int rc = checkBuffer(d, buffer);
  if (rc != CAPIOK) return rc;
  if (!d.do_data.empty()) memcpy(out, d.do_data.data(), d.do_data.size());
  return CAPIOK;
}
EXPORT int envoyGoFilterHttpDrainBuffer(void* sp, uint64_t buffer, uint64_t length) {
  Dir& d = *dirOf(sp);
  std::lock_guard<std::mutex> g(d.s->mu);
  int rc = checkBuffer(d, buffer);
  if (rc != CAPIOK) return rc;
  d.do_data.erase(0, length < d.do_data.size() ? length : d.do_data.size());
  return CAPIOK;
}
EXPORT int envoyGoFilterHttpSetBufferHelper(void* sp, uint64_t buffer, void* data, int length, int action) {
  Dir& d = *dirOf(sp);
  std::lock_guard<std::mutex> g(d.s->mu);
  int rc = checkBuffer(d, buffer);
  if (rc != CAPIOK) return rc;
  std::string v(static_cast<const char*>(data), length > 0 ? length : 0);
  if (action == 0)
    d.do_data = v;  // Set
  else if (action == 2)
    d.do_data.insert(0, v);  // Prepend
  else
    d.do_data += v;  // Append
  return CAPIOK;
}

EXPORT int envoyGoFilterHttpSetUpstreamOverrideHost(void* sp, void* host, int host_len, bool strict) {
  Dir& d = *dirOf(sp);
  Stream& s = *d.s;
  {
    std::lock_guard<std::mutex> g(s.mu);
    int rc = checkState(d);
    if (rc != CAPIOK) return rc;
  }
  if (d.enc || d.state() != ProcessingHeader) return CAPIInvalidPhase;
  std::string h(static_cast<const char*>(host), host_len > 0 ? host_len : 0);
  if (s.onWorker())
    return envoy_dynamic_module_callback_http_set_upstream_override_host(s.envoy, view(h), strict) ? CAPIOK
                                                                                                   : CAPIInvalidIPAddress;
  void* envoy = s.envoy;
  s.post([envoy, h, strict] { envoy_dynamic_module_callback_http_set_upstream_override_host(envoy, view(h), strict); });
  return CAPIOK;
}

EXPORT int envoyGoFilterHttpClearRouteCache(void* r, bool) {
  Stream& s = *streamOf(r);
  {
    std::lock_guard<std::mutex> g(s.mu);
    int rc = checkRequest(s);
    if (rc != CAPIOK) return rc;
  }
  void* envoy = s.envoy;
  if (s.onWorker())
    envoy_dynamic_module_callback_http_clear_route_cache(envoy);
  else
    s.post([envoy] { envoy_dynamic_module_callback_http_clear_route_cache(envoy); });
  return CAPIOK;
}

EXPORT int envoyGoFilterHttpGetStringValue(void* r, int id, uint64_t* value_data, int* value_len) {
  Stream& s = *streamOf(r);
  std::lock_guard<std::mutex> g(s.mu);
  int rc = checkRequest(s);
  if (rc != CAPIOK) return rc;
  const char* attr = valueAttribute(id);
  if (attr == nullptr) return CAPIValueNotFound;
  rc = attribute(s, attr, s.value);
  if (rc != CAPIOK) return rc;
  *value_data = reinterpret_cast<uint64_t>(s.value.data());
  *value_len = static_cast<int>(s.value.size());
  return CAPIOK;
}

EXPORT int envoyGoFilterHttpGetIntegerValue(void* r, int id, uint64_t* value) {
  Stream& s = *streamOf(r);
  std::lock_guard<std::mutex> g(s.mu);
  int rc = checkRequest(s);
  if (rc != CAPIOK) return rc;
  const char* attr = valueAttribute(id);
  if (attr == nullptr) return CAPIValueNotFound;
  std::string v;
  rc = attribute(s, attr, v);
  if (rc != CAPIOK) return rc;
  *value = strtoull(v.c_str(), nullptr, 10);
  return CAPIOK;
}

EXPORT int envoyGoFilterHttpGetDynamicMetadata(void* r, void* name, int name_len, uint64_t* buf_data, int* buf_len) {
  Stream& s = *streamOf(r);
  std::lock_guard<std::mutex> g(s.mu);
  int rc = checkRequest(s);
  if (rc != CAPIOK) return rc;
  s.value = metadataStruct(s, std::string(static_cast<const char*>(name), name_len));
  *buf_data = reinterpret_cast<uint64_t>(s.value.data());
  *buf_len = static_cast<int>(s.value.size());
  return CAPIOK;
}

EXPORT int envoyGoFilterHttpSetDynamicMetadata(void* r, void* name, int name_len, void* key, int key_len, void* buf,
                                               int buf_len) {
  Stream& s = *streamOf(r);
  {
    std::lock_guard<std::mutex> g(s.mu);
    int rc = checkRequest(s);
    if (rc != CAPIOK) return rc;
  }
  std::string ns(static_cast<const char*>(name), name_len), k(static_cast<const char*>(key), key_len),
      v(static_cast<const char*>(buf), buf_len > 0 ? buf_len : 0);
  Stream* sp = &s;
  auto apply = [sp, ns, k, v] {
    if (!setMetadata(*sp, ns, k, v))
      logf(kError, "dynamic metadata %s.%s: only string, number and bool values are supported", ns.c_str(), k.c_str());
  };
  if (s.onWorker())
    apply();
  else
    s.post(apply);
  return CAPIOK;
}

EXPORT void envoyGoFilterHttpFinalize(void* r, int) {
  Stream* s = streamOf(r);
  Config* c = s->cfg;
  s->unref();
  (void)c;
}

EXPORT int envoyGoFilterHttpSetStringFilterState(void* r, void* key, int key_len, void* value, int value_len, int, int,
                                                 int) {
  Stream& s = *streamOf(r);
  {
    std::lock_guard<std::mutex> g(s.mu);
    int rc = checkRequest(s);
    if (rc != CAPIOK) return rc;
  }
  std::string k(static_cast<const char*>(key), key_len), v(static_cast<const char*>(value), value_len > 0 ? value_len : 0);
  void* envoy = s.envoy;
  auto apply = [envoy, k, v] {
    if (!envoy_dynamic_module_callback_http_set_filter_state_bytes(envoy, view(k), view(v)))
      logf(kError, "filter state %s could not be set (read-only?)", k.c_str());
  };
  if (s.onWorker())
    apply();
  else
    s.post(apply);
  return CAPIOK;
}

EXPORT int envoyGoFilterHttpGetStringFilterState(void* r, void* key, int key_len, uint64_t* value_data, int* value_len) {
  Stream& s = *streamOf(r);
  std::lock_guard<std::mutex> g(s.mu);
  int rc = checkRequest(s);
  if (rc != CAPIOK) return rc;
  std::string k(static_cast<const char*>(key), key_len);
  dm_buf v{nullptr, 0};
  s.value.clear();
  if (envoy_dynamic_module_callback_http_get_filter_state_bytes(s.envoy, view(k), &v) && v.ptr) s.value.assign(v.ptr, v.length);
  *value_data = reinterpret_cast<uint64_t>(s.value.data());
  *value_len = static_cast<int>(s.value.size());
  return CAPIOK;
}

EXPORT int envoyGoFilterHttpGetStringProperty(void* r, void* key, int key_len, uint64_t* value_data, int* value_len,
                                              int* rc_out) {
  Stream& s = *streamOf(r);
  std::lock_guard<std::mutex> g(s.mu);
  int rc = checkRequest(s);
  if (rc != CAPIOK) return rc;
  rc = attribute(s, std::string(static_cast<const char*>(key), key_len), s.value);
  *rc_out = rc;
  if (rc == CAPIOK) {
    *value_data = reinterpret_cast<uint64_t>(s.value.data());
    *value_len = static_cast<int>(s.value.size());
  }
  return rc;
}

EXPORT int envoyGoFilterHttpGetStringSecret(void* r, void*, int, uint64_t*, int* value_len) {
  Stream& s = *streamOf(r);
  std::lock_guard<std::mutex> g(s.mu);
  int rc = checkRequest(s);
  if (rc != CAPIOK) return rc;
  *value_len = -1;  // no generic secrets through dynamic modules
  return CAPIOK;
}

EXPORT int envoyGoFilterHttpSetDrainConnectionUponCompletion(void* r) {
  Stream& s = *streamOf(r);
  std::lock_guard<std::mutex> g(s.mu);
  int rc = checkRequest(s);
  if (rc != CAPIOK) return rc;
  logf(kDebug, "drain connection upon completion is not supported by golanghost");
  return CAPIOK;
}

EXPORT void envoyGoFilterLog(uint32_t level, void* message, int len) {
  int l = level > kCritical ? kCritical : static_cast<int>(level);
  if (!envoy_dynamic_module_callback_log_enabled(l)) return;
  envoy_dynamic_module_callback_log(l, view(message, len));
}

EXPORT uint32_t envoyGoFilterLogLevel() {
  for (int l = kTrace; l <= kCritical; l++)
    if (envoy_dynamic_module_callback_log_enabled(l)) return static_cast<uint32_t>(l);
  return kOff;
}

EXPORT void envoyGoConfigHttpFinalize(void* c) {
  reinterpret_cast<Config*>(c)->unref();
}

EXPORT int envoyGoFilterHttpDefineMetric(void* cp, uint32_t type, void* name, int name_len, uint32_t* metric_id) {
  auto* c = reinterpret_cast<Config*>(cp);
  std::lock_guard<std::mutex> g(c->mu);
  if (!c->alive) return CAPIFilterIsGone;
  dm_buf n = view(name, name_len);
  size_t id = 0;
  int res;
  if (type == kCounter)
    res = envoy_dynamic_module_callback_http_filter_config_define_counter(c->envoy, n, nullptr, 0, &id);
  else if (type == kGauge)
    res = envoy_dynamic_module_callback_http_filter_config_define_gauge(c->envoy, n, nullptr, 0, &id);
  else
    return CAPIValueNotFound;  // histograms are a TODO of the golang filter too
  if (res != 0) {
    logf(kError, "metric %.*s could not be defined (result %d)", name_len, static_cast<const char*>(name), res);
    return CAPIInternalFailure;
  }
  c->metrics.emplace_back();
  c->metrics.back().type = static_cast<int>(type);
  c->metrics.back().envoy_id = id;
  *metric_id = static_cast<uint32_t>(c->metrics.size());
  return CAPIOK;
}

namespace {
Metric* metricOf(Config* c, uint32_t id) {
  if (id == 0 || id > c->metrics.size()) return nullptr;
  return &c->metrics[id - 1];
}
}  // namespace

EXPORT int envoyGoFilterHttpIncrementMetric(void* cp, uint32_t id, int64_t offset) {
  auto* c = reinterpret_cast<Config*>(cp);
  std::lock_guard<std::mutex> g(c->mu);
  if (!c->alive) return CAPIFilterIsGone;
  Metric* m = metricOf(c, id);
  if (m == nullptr) return CAPIValueNotFound;
  m->value += offset;
  if (m->type == kCounter) {
    if (offset > 0) envoy_dynamic_module_callback_http_filter_config_increment_counter(c->envoy, m->envoy_id, nullptr, 0, offset);
  } else if (offset >= 0) {
    envoy_dynamic_module_callback_http_filter_config_increment_gauge(c->envoy, m->envoy_id, nullptr, 0, offset);
  } else {
    envoy_dynamic_module_callback_http_filter_config_decrement_gauge(c->envoy, m->envoy_id, nullptr, 0, -offset);
  }
  return CAPIOK;
}

EXPORT int envoyGoFilterHttpGetMetric(void* cp, uint32_t id, uint64_t* value) {
  auto* c = reinterpret_cast<Config*>(cp);
  std::lock_guard<std::mutex> g(c->mu);
  if (!c->alive) return CAPIFilterIsGone;
  Metric* m = metricOf(c, id);
  if (m == nullptr) return CAPIValueNotFound;
  *value = static_cast<uint64_t>(m->value.load());
  return CAPIOK;
}

EXPORT int envoyGoFilterHttpRecordMetric(void* cp, uint32_t id, uint64_t value) {
  auto* c = reinterpret_cast<Config*>(cp);
  std::lock_guard<std::mutex> g(c->mu);
  if (!c->alive) return CAPIFilterIsGone;
  Metric* m = metricOf(c, id);
  if (m == nullptr) return CAPIValueNotFound;
  if (m->type != kGauge) return CAPIOK;
  m->value = static_cast<int64_t>(value);
  envoy_dynamic_module_callback_http_filter_config_set_gauge(c->envoy, m->envoy_id, nullptr, 0, value);
  return CAPIOK;
}
