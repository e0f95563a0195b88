//! Rust counterparts of the Go test guests, on the `proxy-wasm` crate. The plugin
//! configuration is "<mode>|<mode configuration>":
//!
//! - `body|<append|prepend|replace>:<buffered|streaming>` — like the Go "body" guest;
//! - `json|<key,key…>` — like the Go "jsonvalidate" guest;
//! - `shared|<key>` — like the Go "shareddata" guest (CAS counter in x-hits);
//! - `queue|consumer:<q>` / `queue|producer:<q>` — like the Go "queue" guest.

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, Status};

proxy_wasm::main! {{
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> {
        Box::new(Root { mode: String::new(), arg: String::new(), count: 0 })
    });
}}

struct Root {
    mode: String,
    arg: String,
    count: u32,
}

impl Context for Root {}

impl RootContext for Root {
    fn on_configure(&mut self, _: usize) -> bool {
        let c = self.get_plugin_configuration().unwrap_or_default();
        let c = String::from_utf8_lossy(&c).into_owned();
        let (mode, arg) = c.split_once('|').unwrap_or((c.as_str(), ""));
        self.mode = mode.to_string();
        self.arg = arg.to_string();
        if self.mode == "queue" {
            if let Some(q) = self.arg.strip_prefix("consumer:") {
                self.register_shared_queue(q);
            }
        }
        true
    }

    fn on_queue_ready(&mut self, id: u32) {
        let q = self.arg.trim_start_matches("consumer:").to_string();
        while let Ok(Some(v)) = self.dequeue_shared_queue(id) {
            self.count += 1;
            let rec = format!("{}#{}", String::from_utf8_lossy(&v), self.count);
            let _ = self.set_shared_data(&format!("queue:{}", q), Some(rec.as_bytes()), None);
        }
    }

    fn create_http_context(&self, _: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Stream { mode: self.mode.clone(), arg: self.arg.clone(), first_req: false, first_resp: false, hits: 0 }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct Stream {
    mode: String,
    arg: String,
    first_req: bool,
    first_resp: bool,
    hits: u64,
}

impl Context for Stream {}

impl Stream {
    fn rewrite(&mut self, response: bool, size: usize, eos: bool) -> Action {
        let (mode, how) = self.arg.split_once(':').unwrap_or((self.arg.as_str(), "buffered"));
        let (mode, buffered) = (mode.to_string(), how != "streaming");
        let tag = if response { "resp" } else { "req" };
        let get = |s: &Self| if response { s.get_http_response_body(0, size) } else { s.get_http_request_body(0, size) };
        let set = |s: &Self, start: usize, n: usize, v: &[u8]| {
            if response {
                s.set_http_response_body(start, n, v)
            } else {
                s.set_http_request_body(start, n, v)
            }
        };
        if buffered {
            if !eos {
                return Action::Pause;
            }
            match mode.as_str() {
                "append" => set(self, size, 0, format!("+{}-appended", tag).as_bytes()),
                "prepend" => set(self, 0, 0, format!("{}-prepended+", tag).as_bytes()),
                "replace" => {
                    let old = String::from_utf8_lossy(&get(self).unwrap_or_default()).to_uppercase();
                    set(self, 0, size, format!("{}-replaced({})", tag, old).as_bytes())
                }
                _ => {}
            }
            return Action::Continue;
        }
        let first = if response { self.first_resp } else { self.first_req };
        match mode.as_str() {
            "append" if eos => set(self, size, 0, format!("+{}-appended", tag).as_bytes()),
            "prepend" if !first => set(self, 0, 0, format!("{}-prepended+", tag).as_bytes()),
            "replace" => {
                let old = String::from_utf8_lossy(&get(self).unwrap_or_default()).to_uppercase();
                set(self, 0, size, old.as_bytes())
            }
            _ => {}
        }
        if response {
            self.first_resp = true
        } else {
            self.first_req = true
        }
        Action::Continue
    }
}

impl HttpContext for Stream {
    fn on_http_request_headers(&mut self, _: usize, eos: bool) -> Action {
        match self.mode.as_str() {
            "body" => self.set_http_request_header("content-length", None),
            "json" if !eos => {
                if self.get_http_request_header("content-type").as_deref() != Some("application/json") {
                    self.send_http_response(403, vec![("x-validation", "content-type")], Some(b"content-type must be application/json\n"));
                    return Action::Pause;
                }
            }
            "shared" => loop {
                let (v, cas) = self.get_shared_data(&self.arg);
                let n: u64 = v.map(|b| String::from_utf8_lossy(&b).parse().unwrap_or(0)).unwrap_or(0) + 1;
                match self.set_shared_data(&self.arg, Some(n.to_string().as_bytes()), cas) {
                    Err(Status::CasMismatch) => continue,
                    _ => {
                        self.hits = n;
                        break;
                    }
                }
            },
            "queue" if self.arg.starts_with("producer:") => {
                let q = self.arg.trim_start_matches("producer:").to_string();
                match self.resolve_shared_queue("", &q) {
                    Some(id) => {
                        let path = self.get_http_request_header(":path").unwrap_or_default();
                        let _ = self.enqueue_shared_queue(id, Some(path.as_bytes()));
                    }
                    None => self.add_http_request_header("x-queue-error", "not found"),
                }
            }
            _ => {}
        }
        Action::Continue
    }

    fn on_http_request_body(&mut self, size: usize, eos: bool) -> Action {
        match self.mode.as_str() {
            "body" => self.rewrite(false, size, eos),
            "json" => {
                if !eos {
                    return Action::Pause;
                }
                let body = self.get_http_request_body(0, size).unwrap_or_default();
                let v: serde_json::Value = match serde_json::from_slice::<serde_json::Value>(&body) {
                    Ok(v) if v.is_object() => v,
                    _ => {
                        self.send_http_response(403, vec![("x-validation", "json")], Some(b"invalid JSON\n"));
                        return Action::Pause;
                    }
                };
                for k in self.arg.split(',').filter(|k| !k.is_empty()) {
                    if v.get(k).is_none() {
                        let h = format!("missing-{}", k);
                        let b = format!("missing key {}\n", k);
                        self.send_http_response(403, vec![("x-validation", h.as_str())], Some(b.as_bytes()));
                        return Action::Pause;
                    }
                }
                Action::Continue
            }
            _ => Action::Continue,
        }
    }

    fn on_http_response_headers(&mut self, _: usize, _: bool) -> Action {
        match self.mode.as_str() {
            "body" => self.set_http_response_header("content-length", None),
            "shared" => self.set_http_response_header("x-hits", Some(&self.hits.to_string())),
            "queue" if self.arg.starts_with("producer:") => {
                let q = self.arg.trim_start_matches("producer:").to_string();
                if let (Some(v), _) = self.get_shared_data(&format!("queue:{}", q)) {
                    self.set_http_response_header("x-queue-last", Some(&String::from_utf8_lossy(&v)));
                }
            }
            _ => {}
        }
        Action::Continue
    }

    fn on_http_response_body(&mut self, size: usize, eos: bool) -> Action {
        if self.mode == "body" {
            return self.rewrite(true, size, eos);
        }
        Action::Continue
    }
}
