//! A header plugin on the `proxy-wasm` crate: the same header operations and property echo as
//! the Go, C and AssemblyScript "headers" guests.

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel};

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root { config: String::new() }) });
}}

struct Root {
    config: String,
}

impl Context for Root {}

impl RootContext for Root {
    fn on_configure(&mut self, _: usize) -> bool {
        if let Some(c) = self.get_plugin_configuration() {
            self.config = String::from_utf8_lossy(&c).into_owned();
        }
        self.config != "refuse"
    }

    fn create_http_context(&self, _: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Headers { config: self.config.clone(), props: Vec::new() }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct Headers {
    config: String,
    props: Vec<(&'static str, String)>,
}

impl Context for Headers {}

impl Headers {
    fn prop(&self, path: Vec<&str>) -> String {
        match self.get_property(path) {
            Some(v) => String::from_utf8_lossy(&v).into_owned(),
            None => "<not found>".to_string(),
        }
    }
}

impl HttpContext for Headers {
    fn on_http_request_headers(&mut self, _: usize, _: bool) -> Action {
        self.add_http_request_header("x-req-added", "guest");
        self.set_http_request_header("x-req-replace", Some("replaced"));
        self.set_http_request_header("x-req-remove", None);
        if let Some(v) = self.get_http_request_header("x-req-echo") {
            self.add_http_request_header("x-req-echoed", &v);
        }
        self.props = vec![
            ("x-prop-path", self.prop(vec!["request", "path"])),
            ("x-prop-method", self.prop(vec!["request", "method"])),
            ("x-prop-plugin-name", self.prop(vec!["plugin_name"])),
            ("x-prop-root-id", self.prop(vec!["plugin_root_id"])),
            ("x-prop-header", self.prop(vec!["request", "headers", "x-req-echo"])),
        ];
        Action::Continue
    }

    fn on_http_response_headers(&mut self, _: usize, _: bool) -> Action {
        self.add_http_response_header("x-resp-added", "guest");
        self.set_http_response_header("x-resp-replace", Some("replaced"));
        self.set_http_response_header("x-resp-remove", None);
        for (k, v) in self.props.clone() {
            self.set_http_response_header(k, Some(&v));
        }
        self.set_http_response_header("x-plugin-config", Some(&self.config));
        Action::Continue
    }
}
