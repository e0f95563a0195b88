// An AssemblyScript metrics plugin (@solo-io/proxy-runtime): like the Go "metrics" guest, a
// counter defined at configure time and incremented per request. (The SDK's get_metric calls
// proxy_record_metric instead of proxy_get_metric — an SDK bug — so the value is not read
// back here; /stats shows it.)
export * from "@solo-io/proxy-runtime/proxy";
import { RootContext, Context, registerRootContext, FilterHeadersStatusValues, stream_context, Counter } from "@solo-io/proxy-runtime";

class MetricsRoot extends RootContext {
  requests: Counter | null = null;

  onConfigure(configuration_size: u32): bool {
    super.onConfigure(configuration_size);
    this.requests = new Counter("wasmtest_as_requests_total");
    return true;
  }

  createContext(context_id: u32): Context {
    return new Metrics(context_id, this);
  }
}

class Metrics extends Context {
  root: MetricsRoot;

  constructor(context_id: u32, root: MetricsRoot) {
    super(context_id, root);
    this.root = root;
  }

  onRequestHeaders(a: u32, end_of_stream: bool): FilterHeadersStatusValues {
    (this.root.requests as Counter).increment(1);
    return FilterHeadersStatusValues.Continue;
  }

  onResponseHeaders(a: u32, end_of_stream: bool): FilterHeadersStatusValues {
    stream_context.headers.response.replace("x-metrics-plugin", "as");
    return FilterHeadersStatusValues.Continue;
  }
}

registerRootContext((context_id: u32) => { return new MetricsRoot(context_id); }, "root");
