// An AssemblyScript header plugin (@solo-io/proxy-runtime): the same header operations and
// property echo as the Go and C "headers" guests. Registered under root id "root".
export * from "@solo-io/proxy-runtime/proxy";
import { RootContext, Context, registerRootContext, FilterHeadersStatusValues, stream_context } from "@solo-io/proxy-runtime";
import { get_property } from "@solo-io/proxy-runtime/runtime";

function prop(path: string): string {
  return String.UTF8.decode(get_property(path));
}

class HeadersRoot extends RootContext {
  createContext(context_id: u32): Context {
    return new Headers(context_id, this);
  }
}

class Headers extends Context {
  root: HeadersRoot;
  path: string = "";
  method: string = "";
  name: string = "";
  rootId: string = "";
  echo: string = "";

  constructor(context_id: u32, root: HeadersRoot) {
    super(context_id, root);
    this.root = root;
  }

  onRequestHeaders(a: u32, end_of_stream: bool): FilterHeadersStatusValues {
    const req = stream_context.headers.request;
    req.add("x-req-added", "guest");
    req.replace("x-req-replace", "replaced");
    req.remove("x-req-remove");
    const echo = req.get("x-req-echo");
    if (echo != "") {
      req.add("x-req-echoed", echo);
    }
    this.path = prop("request\0path");
    this.method = prop("request\0method");
    this.name = prop("plugin_name");
    this.rootId = prop("plugin_root_id");
    this.echo = prop("request\0headers\0x-req-echo");
    return FilterHeadersStatusValues.Continue;
  }

  onResponseHeaders(a: u32, end_of_stream: bool): FilterHeadersStatusValues {
    const resp = stream_context.headers.response;
    resp.add("x-resp-added", "guest");
    resp.replace("x-resp-replace", "replaced");
    resp.remove("x-resp-remove");
    resp.replace("x-prop-path", this.path);
    resp.replace("x-prop-method", this.method);
    resp.replace("x-prop-plugin-name", this.name);
    resp.replace("x-prop-root-id", this.rootId);
    resp.replace("x-prop-header", this.echo);
    resp.replace("x-plugin-config", this.root.getConfiguration());
    return FilterHeadersStatusValues.Continue;
  }
}

registerRootContext((context_id: u32) => { return new HeadersRoot(context_id); }, "root");
