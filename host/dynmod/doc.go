// Package dynmod is the Envoy dynamic-modules host binding (ABI v0.1.0 of Envoy 1.39). It
// exports the envoy_dynamic_module_on_* event hooks that Envoy resolves in libtrafficext.so,
// adapts each HTTP filter instance to core.Stream through the envoy_dynamic_module_callback_*
// functions Envoy exports (declared in abi_decls.h), and hands events to the host-agnostic core.
//
// One Envoy filter configuration (one ECDS version of one extension) is one core.Config,
// passed to Envoy as a cgo.Handle; one stream is one *stream, passed as a handle of the
// binding's stream table (handles.go, cheaper than cgo.Handle for every event). The module
// file must be named lib<name>.so and be found through ENVOY_DYNAMIC_MODULES_SEARCH_PATH.
// envoy_dynamic_module_on_program_init (exports.go) is the one initialisation of the module,
// whatever kinds of filters it serves.
//
// Known limits of the ABI that the binding works around or reports:
//   - a header cannot be set to the empty string (the setter removes it, the adder refuses it);
//   - metadata values are strings, numbers, booleans and lists of those: a struct cannot be
//     read and no list or struct can be set (core.ErrUnsupported);
//   - no per-route configuration.
package dynmod
