package validate

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/yuin/gopher-lua/ast"
	"github.com/yuin/gopher-lua/parse"
)

// MaxInlineCode is the largest spec.lua.inlineCode accepted (64 KiB, as Istio).
const MaxInlineCode = 65536

var luaErr = regexp.MustCompile(`line:(\d+)\(column:\d+\) (.*)$`)

func (c *checker) lua(code string) {
	const field = "spec.lua.inlineCode"
	switch {
	case code == "":
		c.errorf(field, "required")
		return
	case len(code) > MaxInlineCode:
		c.errorf(field, fmt.Sprintf("%d bytes exceeds the limit of %d", len(code), MaxInlineCode))
		return
	}
	chunk, line, msg := parseLua(code)
	if msg != "" {
		c.errorAt(field, line, msg)
		return
	}
	if !definesHandler(chunk) {
		c.warnf(field, "defines neither envoy_on_request nor envoy_on_response: the extension does nothing")
	}
	c.luaBinding(chunk)
}

// parseLua compiles the source to an AST; on failure it returns the line and the message.
func parseLua(code string) (chunk []ast.Stmt, line int, msg string) {
	defer func() {
		if r := recover(); r != nil {
			msg = fmt.Sprint(r)
		}
	}()
	chunk, err := parse.Parse(strings.NewReader(code), "inlineCode")
	if err == nil {
		return chunk, 0, ""
	}
	text := strings.TrimSpace(err.Error())
	if m := luaErr.FindStringSubmatch(text); m != nil {
		line, _ = strconv.Atoi(m[1])
		return nil, line, strings.Join(strings.Fields(m[2]), " ")
	}
	return nil, 0, text
}

// definesHandler reports whether the chunk defines a global envoy_on_request or
// envoy_on_response at top level (function statement or assignment).
func definesHandler(chunk []ast.Stmt) bool {
	isHandler := func(e ast.Expr) bool {
		id, ok := e.(*ast.IdentExpr)
		return ok && (id.Value == "envoy_on_request" || id.Value == "envoy_on_response")
	}
	for _, st := range chunk {
		switch s := st.(type) {
		case *ast.FuncDefStmt:
			if s.Name != nil && s.Name.Receiver == nil && isHandler(s.Name.Func) {
				return true
			}
		case *ast.AssignStmt:
			for _, l := range s.Lhs {
				if isHandler(l) {
					return true
				}
			}
		}
	}
	return false
}
