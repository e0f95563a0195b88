// An AssemblyScript dispatch plugin (@solo-io/proxy-runtime): like the Go "dispatch" guest
// with one call. The plugin configuration is the cluster name. Each request dispatches
// GET /dispatch/0 and pauses; a 200 resumes it with x-dispatch-status, anything else answers
// 403, a failed call 503.
export * from "@solo-io/proxy-runtime/proxy";
import { RootContext, Context, registerRootContext, FilterHeadersStatusValues, stream_context, HeaderPair, Headers, send_local_response, GrpcStatusValues, WasmResultValues } from "@solo-io/proxy-runtime";

class DispatchRoot extends RootContext {
  createContext(context_id: u32): Context {
    return new Dispatch(context_id, this);
  }
}

function pair(k: string, v: string): HeaderPair {
  return new HeaderPair(String.UTF8.encode(k), String.UTF8.encode(v));
}

class Dispatch extends Context {
  root: DispatchRoot;

  constructor(context_id: u32, root: DispatchRoot) {
    super(context_id, root);
    this.root = root;
  }

  onRequestHeaders(a: u32, end_of_stream: bool): FilterHeadersStatusValues {
    const hs: Headers = [pair(":method", "GET"), pair(":path", "/dispatch/0"), pair(":authority", "dispatch.test")];
    const r = this.root.httpCall(this.root.getConfiguration(), hs, new ArrayBuffer(0), [], 5000, this,
      (origin: Context, headers: u32, body_size: usize, trailers: u32): void => {
        if (headers == 0) {
          send_local_response(503, "", String.UTF8.encode("dispatch failed\n"), [pair("x-dispatch", "failed")], GrpcStatusValues.Unknown);
          return;
        }
        const status = stream_context.headers.http_callback.get(":status");
        if (status != "200") {
          send_local_response(403, "", String.UTF8.encode("denied by dispatch\n"), [pair("x-dispatch-status", status)], GrpcStatusValues.Unknown);
          return;
        }
        stream_context.headers.request.add("x-dispatch-status", status);
        stream_context.headers.request.add("x-dispatch-count", "1");
        origin.continueRequest();
      });
    if (r != WasmResultValues.Ok) {
      send_local_response(500, "", new ArrayBuffer(0), [pair("x-dispatch-error", "status " + r.toString())], GrpcStatusValues.Unknown);
    }
    return FilterHeadersStatusValues.StopIteration;
  }
}

registerRootContext((context_id: u32) => { return new DispatchRoot(context_id); }, "root");
