package core

// TypedFilterState is implemented by a FilterState whose host can create Envoy's typed filter
// state objects: SetTyped makes value into the object of the factory registered under key
// (an error when no factory has that name, it refuses value, or key is read-only). Engines
// check for it with a type assertion; Get returns such an object serialized.
type TypedFilterState interface {
	SetTyped(key string, value []byte) error
}
