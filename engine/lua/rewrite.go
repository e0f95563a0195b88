package lua

import (
	"github.com/yuin/gopher-lua/ast"
)

// Yielding from Go in gopher-lua: generic for loops are compiled as while loops so their
// iterator may yield; other nested calls refuse to yield (RATIONALE.md).

// rewriteForLoops rewrites every generic for in chunk (including nested functions).
func rewriteForLoops(chunk []ast.Stmt) []ast.Stmt { return rwStmts(chunk) }

func rwStmts(list []ast.Stmt) []ast.Stmt {
	for i, s := range list {
		list[i] = rwStmt(s)
	}
	return list
}

func rwStmt(s ast.Stmt) ast.Stmt {
	switch st := s.(type) {
	case *ast.AssignStmt:
		rwExprs(st.Lhs)
		rwExprs(st.Rhs)
	case *ast.LocalAssignStmt:
		rwExprs(st.Exprs)
	case *ast.FuncCallStmt:
		rwExpr(st.Expr)
	case *ast.DoBlockStmt:
		rwStmts(st.Stmts)
	case *ast.WhileStmt:
		rwExpr(st.Condition)
		rwStmts(st.Stmts)
	case *ast.RepeatStmt:
		rwExpr(st.Condition)
		rwStmts(st.Stmts)
	case *ast.IfStmt:
		rwExpr(st.Condition)
		rwStmts(st.Then)
		rwStmts(st.Else)
	case *ast.NumberForStmt:
		rwExpr(st.Init)
		rwExpr(st.Limit)
		rwExpr(st.Step)
		rwStmts(st.Stmts)
	case *ast.FuncDefStmt:
		rwExpr(st.Func)
	case *ast.ReturnStmt:
		rwExprs(st.Exprs)
	case *ast.GenericForStmt:
		rwExprs(st.Exprs)
		rwStmts(st.Stmts)
		return forAsWhile(st)
	}
	return s
}

func rwExprs(list []ast.Expr) {
	for _, e := range list {
		rwExpr(e)
	}
}

func rwExpr(e ast.Expr) {
	switch ex := e.(type) {
	case *ast.FunctionExpr:
		rwStmts(ex.Stmts)
	case *ast.AttrGetExpr:
		rwExpr(ex.Object)
		rwExpr(ex.Key)
	case *ast.TableExpr:
		for _, f := range ex.Fields {
			rwExpr(f.Key)
			rwExpr(f.Value)
		}
	case *ast.FuncCallExpr:
		rwExpr(ex.Func)
		rwExpr(ex.Receiver)
		rwExprs(ex.Args)
	case *ast.LogicalOpExpr:
		rwExpr(ex.Lhs)
		rwExpr(ex.Rhs)
	case *ast.RelationalOpExpr:
		rwExpr(ex.Lhs)
		rwExpr(ex.Rhs)
	case *ast.StringConcatOpExpr:
		rwExpr(ex.Lhs)
		rwExpr(ex.Rhs)
	case *ast.ArithmeticOpExpr:
		rwExpr(ex.Lhs)
		rwExpr(ex.Rhs)
	case *ast.UnaryMinusOpExpr:
		rwExpr(ex.Expr)
	case *ast.UnaryNotOpExpr:
		rwExpr(ex.Expr)
	case *ast.UnaryLenOpExpr:
		rwExpr(ex.Expr)
	}
}

// Hidden local names; '(' cannot start a Lua identifier, so no script can refer to them.
const (
	forGen   = "(for generator)"
	forState = "(for state)"
	forCtl   = "(for control)"
)

// forAsWhile turns `for v1, ..., vn in explist do block end` into
//
//	do
//	  local f, s, c = explist
//	  while true do
//	    local v1, ..., vn = f(s, c)
//	    if v1 == nil then break end
//	    c = v1
//	    do block end
//	  end
//	end
func forAsWhile(st *ast.GenericForStmt) ast.Stmt {
	line, last := st.Line(), st.LastLine()
	at := func(n ast.PositionHolder) {
		n.SetLine(line)
		n.SetLastLine(last)
	}
	ident := func(name string) *ast.IdentExpr {
		e := &ast.IdentExpr{Value: name}
		at(e)
		return e
	}
	head := &ast.LocalAssignStmt{Names: []string{forGen, forState, forCtl}, Exprs: st.Exprs}
	call := &ast.FuncCallExpr{Func: ident(forGen), Args: []ast.Expr{ident(forState), ident(forCtl)}}
	step := &ast.LocalAssignStmt{Names: st.Names, Exprs: []ast.Expr{call}}
	isNil := &ast.RelationalOpExpr{Operator: "==", Lhs: ident(st.Names[0]), Rhs: &ast.NilExpr{}}
	brk := &ast.BreakStmt{}
	stop := &ast.IfStmt{Condition: isNil, Then: []ast.Stmt{brk}}
	advance := &ast.AssignStmt{Lhs: []ast.Expr{ident(forCtl)}, Rhs: []ast.Expr{ident(st.Names[0])}}
	body := &ast.DoBlockStmt{Stmts: st.Stmts}
	cond := &ast.TrueExpr{}
	loop := &ast.WhileStmt{Condition: cond, Stmts: []ast.Stmt{step, stop, advance, body}}
	block := &ast.DoBlockStmt{Stmts: []ast.Stmt{head, loop}}
	for _, n := range []ast.PositionHolder{head, call, step, isNil, isNil.Rhs, brk, stop, advance, body, cond, loop, block} {
		at(n)
	}
	return block
}
