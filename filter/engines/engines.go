// Package engines lists the extension engines a build of the filter carries, so that both
// host bindings construct the same set.
package engines

import (
	"github.com/trafficext/trafficext/filter/core"
	"github.com/trafficext/trafficext/runtime/lua"
)

// Default returns one instance of every engine with its default options.
func Default() []core.Engine {
	return []core.Engine{lua.New(lua.Options{})}
}
