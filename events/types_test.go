package events

import (
	"go/ast"
	"go/parser"
	"go/token"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestTypesListsEveryType: a Type constant added to event.go without its
// place in Types would be refused by notify's events line.
func TestTypesListsEveryType(t *testing.T) {
	file, err := parser.ParseFile(token.NewFileSet(), "event.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var declared []string
	ast.Inspect(file, func(n ast.Node) bool {
		spec, ok := n.(*ast.ValueSpec)
		if !ok || len(spec.Values) != 1 || !strings.HasPrefix(spec.Names[0].Name, "Type") {
			return true
		}
		if lit, ok := spec.Values[0].(*ast.BasicLit); ok {
			v, _ := strconv.Unquote(lit.Value)
			declared = append(declared, v)
		}
		return true
	})
	if len(declared) == 0 || !slices.Equal(declared, Types) {
		t.Errorf("Types %v, want every Type constant of event.go in order: %v", Types, declared)
	}
}
