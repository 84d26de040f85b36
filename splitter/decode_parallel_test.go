package splitter

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

// decodeTableMode decodes a table as CompileBytes does, with the appkeys
// decoded sequentially or (when it can) in parallel.
func decodeTableMode(data []byte, mode parallelMode) (t *Table, list []Problem, ok, used bool) {
	t, _, list, ok, used = decodeOrderMode(data, mode)
	return t, list, ok, used
}

// decodeOrderMode is decodeTableMode, also returning the appkeys in
// document order, with their verbatim texts.
func decodeOrderMode(data []byte, mode parallelMode) (t *Table, order []namedAppkey, list []Problem, ok, used bool) {
	list, ok = decodeDoc(data, false, func(d *decoder) {
		d.parallel = mode
		t = d.table()
		order, used = d.order, d.parallelUsed
	})
	return t, order, list, ok, used
}

// checkSameDecode fails unless the parallel decoder, in each mode, gives
// the sequential decoder's table and problems in the same order; it
// returns whether the parallel decoder was used in the first mode.
func checkSameDecode(t *testing.T, name string, data []byte, modes ...parallelMode) bool {
	t.Helper()
	seqT, seqO, seqL, seqOK, seqUsed := decodeOrderMode(data, parallelNever)
	if seqUsed {
		t.Fatalf("%s: parallelNever decoded in parallel", name)
	}
	first := false
	for i, mode := range modes {
		parT, parO, parL, parOK, used := decodeOrderMode(data, mode)
		if i == 0 {
			first = used
		}
		if seqOK != parOK {
			t.Fatalf("%s (mode %d): ok = %v in parallel, %v sequentially", name, mode, parOK, seqOK)
		}
		if !reflect.DeepEqual(seqL, parL) {
			t.Fatalf("%s (mode %d): problems differ\nparallel:   %v\nsequential: %v", name, mode, parL, seqL)
		}
		if !reflect.DeepEqual(seqT, parT) {
			t.Fatalf("%s (mode %d): tables differ", name, mode)
		}
		if len(seqO)+len(parO) > 0 && !reflect.DeepEqual(seqO, parO) { // the verbatim texts too; nil or empty alike
			t.Fatalf("%s (mode %d): appkeys in document order differ", name, mode)
		}
	}
	return first
}

func genTableJSON(t testing.TB, n int, seed int64) string {
	t.Helper()
	data, err := json.Marshal(GenerateTable(n, seed))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// injectErrors spoils several appkeys of a marshalled generated table and
// adds entries the decoder must report: duplicates, a key that is not
// UTF-8, keys with escapes, values of the wrong type.
func injectErrors(s string) string {
	entry := func(i int) string { return fmt.Sprintf(`"app-%06d":{`, i) }
	repl := []struct {
		i   int
		add string
	}{
		{3, `"bogus":1,`},
		{50, `"split":"maybe",`},
		{77, `"rules":5,`},
		{120, `"default_group":7,`},
		{400, `"rules":[{"name":"x","type":"canary","percent":"ten","group":"stable","users":["a"]}],`},
		{999, `"rules":[{"name":"l","type":"lua","script":"s","args":{"a":[1,{"b":null}],"a":2,"\u00e9":1e400}}],`},
		{1500, `"rules":[{"name":"m","type":"match","group":"stable","all":[["attr:x","in",[1,true,"z"]],["k",">","x"],"bad",["k","=="]]}],`},
		{2000, `"rules":[{"name":"r","type":"user","group":"stable","ranges":[[1],[1,2,3],"x",[1.5,2]],"weights":{"a":1}}],`},
		{4321, `"split":true,"split":false,`},
		// Entry-like text inside a value: a wrong guess of a boundary.
		{600, `"rules":[{"name":"l","type":"lua","script":"s","args":{"a":{"b":1},"c":{"d":{}},"e":[{},{"f":{}}]}}],`},
		{7000, `"rules":[{"name":"l","type":"lua","script":"s","args":{"x":{"y":1},"z":{"w":2}}}],`},
		{13000, `"rules":[{"name":"l","type":"lua","script":"s","args":{"x":{"y":1} , "z" : {"w":2}}}],`},
	}
	for _, r := range repl {
		e := entry(r.i)
		s = strings.Replace(s, e, e+r.add, 1)
	}
	extra := `"app-000010":{"rules":"dup"},"` + "\xff\xfe" + `":{"rules":1},"esc\"aped\\key\u00e9":{"split":"off"},` +
		`"app-000011":7,"":null,"app-000012":{"rules":[]},"app-000012":[],`
	return strings.Replace(s, `"appkeys":{`, `"appkeys":{`+extra, 1)
}

func TestDecodeParallelSameAsSequential(t *testing.T) {
	for seed, n := range map[int64]int{1: 20000, 2: 3000} {
		clean := genTableJSON(t, n, seed)
		bad := injectErrors(clean)
		if bad == clean {
			t.Fatal("no errors injected")
		}
		var indented bytes.Buffer
		if err := json.Indent(&indented, []byte(bad), "", "  "); err != nil {
			t.Fatal(err)
		}
		for name, doc := range map[string]string{"clean": clean, "errors": bad, "indented": indented.String()} {
			modes := []parallelMode{parallelAlways}
			if n < 20000 && name == "clean" {
				// The default: in parallel when GOMAXPROCS > 1 (3000 appkeys are
				// over 1 MiB).
				modes = append(modes, parallelAuto)
			}
			name = fmt.Sprintf("seed %d %s", seed, name)
			if !checkSameDecode(t, name, []byte(doc), modes...) {
				t.Fatalf("%s: the parallel decoder was not used", name)
			}
		}
		if n < 20000 && runtime.GOMAXPROCS(0) > 1 {
			if _, _, _, used := decodeTableMode([]byte(clean), parallelAuto); !used {
				t.Fatalf("seed %d: %d bytes were not decoded in parallel by default", seed, len(clean))
			}
		}
		_, list, ok, _ := decodeTableMode([]byte(bad), parallelAlways)
		if !ok || len(list) < 15 {
			t.Fatalf("seed %d: want many problems from the injected errors; got ok %v %v", seed, ok, list)
		}
	}
}

// TestDecodeParallelMalformed checks that documents that are not well-formed
// get the sequential decoder's syntax error (the parallel attempt gives up).
func TestDecodeParallelMalformed(t *testing.T) {
	doc := genTableJSON(t, 300, 3)
	at := strings.Index(doc, `"app-000150":{`)
	deep := strings.Repeat("[", 70) + strings.Repeat("]", 70)
	cases := map[string]string{
		"truncated":        doc[:len(doc)/2],
		"truncated in key": doc[:at+5],
		"trailing comma":   strings.Replace(doc, `}}}`, `}},}}`, 1),
		"bad literal":      strings.Replace(doc, `"app-000150":{`, `"app-000150":{"split":tru,`, 1),
		"bad number":       strings.Replace(doc, `"app-000150":{`, `"app-000150":{"rules":01,`, 1),
		"missing colon":    strings.Replace(doc, `"app-000150":{`, `"app-000150" {`, 1),
		"missing comma":    strings.Replace(doc, `"app-000150":{`, `"app-000150":{}{`, 1),
		"bad escape":       strings.Replace(doc, `"app-000150":{`, `"app-0001\q50":{`, 1),
		"control char":     strings.Replace(doc, `"app-000150":{`, "\"app-000150\":{\"split\":\"a\tb\",", 1),
		"too deep":         strings.Replace(doc, `"app-000150":{`, `"app-000150":{"rules":[{"type":"lua","args":{"a":`+deep+`}}],`, 1),
		"mismatched":       strings.Replace(doc, `"app-000150":{`, `"app-000150":{"rules":[}],`, 1),
		"empty value":      strings.Replace(doc, `"app-000150":{`, `"app-000149":,"app-000150":{`, 1),
		"unquoted key":     strings.Replace(doc, `"app-000150":{`, `app:{},"app-000150":{`, 1),
		"after the table":  doc + "x",
		"quote in string":  strings.Replace(doc, `"app-000150":{`, `"app-000150":{"split":"a\\\\"b",`, 1),
	}
	for name, d := range cases {
		if d == doc {
			t.Fatalf("%s: not changed", name)
		}
		checkSameDecode(t, name, []byte(d), parallelAlways)
	}
	_, list, ok, _ := decodeTableMode([]byte(cases["bad escape"]), parallelAlways)
	if ok || len(list) != 1 || !strings.Contains(list[0].Message, "cannot parse JSON") {
		t.Fatalf("bad escape: got ok %v %v; want one syntax problem", ok, list)
	}
}

// TestDecodeParallelGolden decodes every golden input both ways.
func TestDecodeParallelGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/validate/*.txt")
	if len(files) == 0 {
		t.Fatal("no golden files")
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		input, _, _ := strings.Cut(string(data), goldenSep)
		checkSameDecode(t, file, []byte(input), parallelAlways)
	}
}

// FuzzDecodeParallel: any input decodes the same in parallel as
// sequentially.
func FuzzDecodeParallel(f *testing.F) {
	f.Add([]byte(injectErrors(genTableJSON(f, 30, 1))))
	f.Add([]byte(specTable))
	for _, s := range []string{`{"appkeys":{}}`, `{"appkeys":{"a":{},"a":1}}`, `{"appkeys":{"a":{"rules":[}]}}`, `{"appkeys":{"a\"b":{"split":"on"}}}`, `{"appkeys":{"a":1 "b":2}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkSameDecode(t, "fuzz", data, parallelAlways)
	})
}

// BenchmarkDecodeTable decodes a 100k-appkey JSON table (as CompileBytes
// does, without compiling) sequentially and in parallel.
//
//	GOMAXPROCS=2 go test -run '^$' -bench DecodeTable ./splitter/
func BenchmarkDecodeTable(b *testing.B) {
	data := []byte(genTableJSON(b, 100000, 1))
	for _, m := range []struct {
		name string
		mode parallelMode
	}{{"sequential", parallelNever}, {"parallel", parallelAuto}} {
		b.Run(m.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			loop(b, func() {
				if _, list, ok, _ := decodeTableMode(data, m.mode); !ok || len(list) > 0 {
					b.Fatal(list)
				}
			})
		})
	}
}
