package job

import (
	"fmt"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// stateWriters are the methods of Job allowed to write Job.State: Apply and
// the helpers it calls.
var stateWriters = map[string]bool{"Apply": true, "firstQueueing": true, "queue": true, "free": true}

// TestOnlyApplyWritesState enforces the package's rule that (*Job).Apply is
// the only code that changes a job's state: it parses the non-test files of
// the package and reports every write to a State field outside the allowed
// methods of Job.
func TestOnlyApplyWritesState(t *testing.T) {
	names, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var files []*ast.File
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		if f.Name.Name == "job" { // skip files of other packages (none today)
			files = append(files, f)
		}
	}
	if len(files) == 0 {
		t.Fatal("no source file found")
	}
	violations, allowed := stateWrites(t, fset, files)
	for _, v := range violations {
		t.Errorf("%s", v)
	}
	// Apply and its helpers do write State: finding none means the checker
	// is looking at the wrong thing.
	if allowed == 0 {
		t.Errorf("found no State write at all, not even in Apply; the checker is broken")
	}
}

// TestStateWriteChecker runs the checker on a source that contains every
// kind of write it must catch, so that TestOnlyApplyWritesState cannot pass
// vacuously.
func TestStateWriteChecker(t *testing.T) {
	const src = `package job

type State uint8
type Flags uint8
type Job struct {
	ID    [2]byte
	State State
	Flags Flags
}

func (j *Job) Apply() { j.State = 1; *j = Job{}; j.helper() }
func (j *Job) queue() { j.State++ }
func (j Job) free() Job { j.State = 0; return Job{State: 2} }
func (j *Job) firstQueueing() { func() { j.State = 3 }() }
func (j *Job) helper() {}

func free(j *Job)                    { j.State = 0 }
func (j *Job) Reset()                { *j = Job{} }
func (j *Job) paren()                { (j.State) = 2 }
func (j *Job) decr()                 { j.State-- }
func (j *Job) addr()                 { p := &j.State; *p = 3 }
func keyed() Job                     { return Job{Flags: 1, State: 2} }
func keyedPtr() *Job                 { return &Job{State: 2} }
func positional() Job                { return Job{[2]byte{}, 2, 0} }
func (j *Job) multi()                { j.Flags, j.State = 0, 1 }
func rangeAssign(js []Job)           { for _, js[0].State = range []State{1} {} }
func copyRecords(a, b []Job)         { copy(a, b) }
func clearRecords(a []Job)           { clear(a) }
func slab(js []Job)                  { js[0] = Job{} }
func inClosure(j *Job)               { f := func() { j.State = 1 }; f() }
func slice(m [][]Job)                { m[0] = []Job{{State: 1}} }
var global = Job{State: 3}

func read(j *Job) State  { return j.State }
func other() Job         { return Job{Flags: 1} }
func local() Job         { var k Job; k.Flags = 1; return k }
func nested() [2]Job     { return [2]Job{{ID: [2]byte{1}}} }
`
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "fixture.go", src, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	violations, allowed := stateWrites(t, fset, []*ast.File{f})
	var got []string
	for _, v := range violations {
		// "fixture.go:17:37: in free: ..." -> "free"
		_, rest, _ := strings.Cut(v, ": in ")
		name, _, _ := strings.Cut(rest, ":")
		if !slices.Contains(got, name) {
			got = append(got, name)
		}
	}
	want := []string{"free", "Reset", "paren", "decr", "addr", "keyed", "keyedPtr", "positional",
		"multi", "rangeAssign", "copyRecords", "clearRecords", "slab", "inClosure", "slice", "package scope"}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("functions reported: got %q; want %q\nviolations:\n%s", got, want, strings.Join(violations, "\n"))
	}
	if allowed != 6 {
		t.Errorf("allowed writes found: got %d; want 6", allowed)
	}
}

// stateWrites walks files and returns a description of every write to a
// State field, or to a whole Job record, outside the stateWriters methods of
// Job, and how many such writes it found inside them. It looks for:
//
//   - assignments (=, op=, range =) whose left side is a .State selector;
//   - ++/-- on a .State selector;
//   - &x.State (a pointer to the field escapes);
//   - Job composite literals with a State key, or unkeyed ones long enough
//     to reach the State field;
//   - assignments whose left side is a whole Job (*j = Job{}, slab[i] = ...),
//     and copy/clear into a slice of Job, found with go/types.
//
// Type information is best effort: if type-checking fails, the type-based
// rules see fewer cases, the syntactic ones are unaffected.
func stateWrites(t *testing.T, fset *token.FileSet, files []*ast.File) (violations []string, allowed int) {
	t.Helper()
	info := &types.Info{
		Types: map[ast.Expr]types.TypeAndValue{},
		Defs:  map[*ast.Ident]types.Object{},
		Uses:  map[*ast.Ident]types.Object{},
	}
	var typeErrs []error
	conf := types.Config{
		Importer: importer.Default(),
		Error:    func(err error) { typeErrs = append(typeErrs, err) },
	}
	pkg, _ := conf.Check("disq/engine/job", fset, files, info)
	for _, err := range typeErrs {
		t.Logf("type-checking (the type-based rules may miss cases): %v", err)
	}
	var jobType types.Type
	stateIndex := -1
	if obj, ok := pkg.Scope().Lookup("Job").(*types.TypeName); ok {
		jobType = obj.Type()
		if st, ok := jobType.Underlying().(*types.Struct); ok {
			for i := 0; i < st.NumFields(); i++ {
				if st.Field(i).Name() == "State" {
					stateIndex = i
				}
			}
		}
	}
	if jobType == nil || stateIndex < 0 {
		t.Fatalf("type Job with a State field not found")
	}
	isJob := func(e ast.Expr) bool {
		tv, ok := info.Types[e]
		return ok && tv.Type != nil && types.Identical(tv.Type, jobType)
	}
	// holdsJobs: a slice, array or map of Job (copy and clear targets).
	holdsJobs := func(e ast.Expr) bool {
		tv, ok := info.Types[e]
		if !ok || tv.Type == nil {
			return false
		}
		switch u := tv.Type.Underlying().(type) {
		case *types.Slice:
			return types.Identical(u.Elem(), jobType)
		case *types.Array:
			return types.Identical(u.Elem(), jobType)
		case *types.Pointer:
			a, ok := u.Elem().Underlying().(*types.Array)
			return ok && types.Identical(a.Elem(), jobType)
		case *types.Map:
			return types.Identical(u.Elem(), jobType)
		}
		return false
	}
	isStateSel := func(e ast.Expr) bool {
		sel, ok := ast.Unparen(e).(*ast.SelectorExpr)
		return ok && sel.Sel.Name == "State"
	}
	isJobLit := func(lit *ast.CompositeLit) bool {
		if lit.Type != nil {
			if id, ok := ast.Unparen(lit.Type).(*ast.Ident); ok && id.Name == "Job" {
				return true
			}
		}
		return isJob(lit) // also elided types: []Job{{State: 1}}
	}

	check := func(where string, ok bool, node ast.Node) {
		ast.Inspect(node, func(nd ast.Node) bool {
			var what string
			writeTo := func(lhs ast.Expr) {
				switch {
				case isStateSel(lhs):
					what = "write to " + types.ExprString(lhs)
				case isJob(lhs):
					if id, isID := ast.Unparen(lhs).(*ast.Ident); isID && (id.Name == "_" || info.Defs[id] != nil) {
						return // a new variable, not a record
					}
					what = "whole-record write to " + types.ExprString(lhs)
				}
			}
			switch x := nd.(type) {
			case *ast.AssignStmt:
				for _, lhs := range x.Lhs {
					writeTo(lhs)
				}
			case *ast.RangeStmt:
				if x.Tok == token.ASSIGN {
					for _, lhs := range []ast.Expr{x.Key, x.Value} {
						if lhs != nil {
							writeTo(lhs)
						}
					}
				}
			case *ast.IncDecStmt:
				if isStateSel(x.X) {
					what = x.Tok.String() + " on " + types.ExprString(x.X)
				}
			case *ast.UnaryExpr:
				if x.Op == token.AND && isStateSel(x.X) {
					what = "address of " + types.ExprString(x.X)
				}
			case *ast.CompositeLit:
				if !isJobLit(x) {
					break
				}
				for i, elt := range x.Elts {
					if kv, isKV := elt.(*ast.KeyValueExpr); isKV {
						if id, isID := kv.Key.(*ast.Ident); isID && id.Name == "State" {
							what = "State: in a Job literal"
						}
					} else if i == stateIndex {
						what = "unkeyed Job literal sets State"
					}
				}
			case *ast.CallExpr:
				if id, isID := ast.Unparen(x.Fun).(*ast.Ident); isID && (id.Name == "copy" || id.Name == "clear") && len(x.Args) > 0 {
					if _, builtin := info.Uses[id].(*types.Builtin); builtin && holdsJobs(x.Args[0]) {
						what = id.Name + " into " + types.ExprString(x.Args[0])
					}
				}
			}
			if what == "" {
				return true
			}
			if ok {
				allowed++
			} else {
				violations = append(violations, fmt.Sprintf("%s: in %s: %s (only Apply and its helpers %v may write Job.State)",
					fset.Position(nd.Pos()), where, what, []string{"firstQueueing", "queue", "free"}))
			}
			return true
		})
	}

	for _, f := range files {
		for _, decl := range f.Decls {
			fd, isFunc := decl.(*ast.FuncDecl)
			if !isFunc {
				check("package scope", false, decl)
				continue
			}
			check(fd.Name.Name, stateWriters[fd.Name.Name] && isJobMethod(fd), fd)
		}
	}
	return violations, allowed
}

// isJobMethod reports whether fd is a method of Job or *Job.
func isJobMethod(fd *ast.FuncDecl) bool {
	if fd.Recv == nil || len(fd.Recv.List) != 1 {
		return false
	}
	typ := ast.Unparen(fd.Recv.List[0].Type)
	if star, ok := typ.(*ast.StarExpr); ok {
		typ = ast.Unparen(star.X)
	}
	id, ok := typ.(*ast.Ident)
	return ok && id.Name == "Job"
}
