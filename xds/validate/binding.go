package validate

import (
	"fmt"

	"github.com/yuin/gopher-lua/ast"

	"github.com/trafficext/trafficext/xds/translate"
)

// golangLua are the Lua stream-handle methods the contrib golang filter binding cannot host,
// with the reason. They are refused before anything is served rather than failing on traffic.
// Wasm needs no such list: its HTTP and gRPC calls go through the callout gateway.
var golangLua = map[string]string{
	"httpCall": "the golang filter has no HTTP callout API and Lua extensions get no callout gateway",
	"metadata": "the golang filter gives Go no route or virtual-host metadata: it would always read empty",
}

// luaBinding refuses calls of what the binding cannot host: h:name(...), h.name(h, ...) and
// h["name"](h, ...); a plain field of that name is not a call and passes.
func (c *checker) luaBinding(chunk []ast.Stmt) {
	if c.opts.Binding != translate.Golang {
		return
	}
	seen := map[string]bool{}
	report := func(name string, line int) {
		if reason, ok := golangLua[name]; ok && !seen[name] {
			seen[name] = true
			c.errorAt("spec.lua.inlineCode", line, fmt.Sprintf("%s() is not available with the %s binding: %s", name, translate.Golang, reason))
		}
	}
	var expr func(ast.Expr)
	var stmts func([]ast.Stmt)
	exprs := func(es []ast.Expr) {
		for _, e := range es {
			expr(e)
		}
	}
	expr = func(e ast.Expr) {
		switch x := e.(type) {
		case *ast.FuncCallExpr:
			if x.Receiver != nil {
				report(x.Method, x.Line())
				expr(x.Receiver)
			}
			if a, ok := x.Func.(*ast.AttrGetExpr); ok {
				if k, ok := a.Key.(*ast.StringExpr); ok {
					report(k.Value, x.Line())
				}
			}
			if x.Func != nil {
				expr(x.Func)
			}
			exprs(x.Args)
		case *ast.AttrGetExpr:
			expr(x.Object)
			expr(x.Key)
		case *ast.TableExpr:
			for _, f := range x.Fields {
				if f.Key != nil {
					expr(f.Key)
				}
				expr(f.Value)
			}
		case *ast.LogicalOpExpr:
			expr(x.Lhs)
			expr(x.Rhs)
		case *ast.RelationalOpExpr:
			expr(x.Lhs)
			expr(x.Rhs)
		case *ast.StringConcatOpExpr:
			expr(x.Lhs)
			expr(x.Rhs)
		case *ast.ArithmeticOpExpr:
			expr(x.Lhs)
			expr(x.Rhs)
		case *ast.UnaryMinusOpExpr:
			expr(x.Expr)
		case *ast.UnaryNotOpExpr:
			expr(x.Expr)
		case *ast.UnaryLenOpExpr:
			expr(x.Expr)
		case *ast.FunctionExpr:
			stmts(x.Stmts)
		}
	}
	stmts = func(ss []ast.Stmt) {
		for _, st := range ss {
			switch s := st.(type) {
			case *ast.AssignStmt:
				exprs(s.Lhs)
				exprs(s.Rhs)
			case *ast.LocalAssignStmt:
				exprs(s.Exprs)
			case *ast.FuncCallStmt:
				expr(s.Expr)
			case *ast.DoBlockStmt:
				stmts(s.Stmts)
			case *ast.WhileStmt:
				expr(s.Condition)
				stmts(s.Stmts)
			case *ast.RepeatStmt:
				expr(s.Condition)
				stmts(s.Stmts)
			case *ast.IfStmt:
				expr(s.Condition)
				stmts(s.Then)
				stmts(s.Else)
			case *ast.NumberForStmt:
				exprs([]ast.Expr{s.Init, s.Limit})
				if s.Step != nil {
					expr(s.Step)
				}
				stmts(s.Stmts)
			case *ast.GenericForStmt:
				exprs(s.Exprs)
				stmts(s.Stmts)
			case *ast.FuncDefStmt:
				stmts(s.Func.Stmts)
			case *ast.ReturnStmt:
				exprs(s.Exprs)
			}
		}
	}
	stmts(chunk)
}
