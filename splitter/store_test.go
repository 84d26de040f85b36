package splitter

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// The compiled form holds no Go pointers (store.go): the garbage
// collector marks a block of entries, rules or conditions without
// scanning it. A field added with a pointer (a string, a slice, an
// interface) fails here.
func TestCompiledFormHasNoPointers(t *testing.T) {
	var hasPointers func(reflect.Type) bool
	hasPointers = func(t reflect.Type) bool {
		switch t.Kind() {
		case reflect.Pointer, reflect.String, reflect.Slice, reflect.Map, reflect.Interface,
			reflect.Chan, reflect.Func, reflect.UnsafePointer:
			return true
		case reflect.Array:
			return hasPointers(t.Elem())
		case reflect.Struct:
			for i := range t.NumField() {
				if hasPointers(t.Field(i).Type) {
					return true
				}
			}
		}
		return false
	}
	for _, v := range []any{entry{}, rule{}, cond{}, span{}, prefix{}, keyRef{}, stringSet{}, [2]int64{}, int32(0), uint32(0)} {
		if ty := reflect.TypeOf(v); hasPointers(ty) {
			t.Errorf("%v holds pointers", ty)
		}
	}
}

// A pushed body is kept by the snapshot compiled from it only as the
// text of its appkeys written as canonical JSON, and only when that text
// is at least half of it; else what the snapshot keeps is copied, and
// the body can go.
func TestCompileOwnedKeepsTheBodyOnlyForItsText(t *testing.T) {
	canonical := genTableJSON(t, 200, 1)
	indented := func() string {
		var b bytes.Buffer
		if err := json.Indent(&b, []byte(canonical), "", "  "); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}()
	for _, tc := range []struct {
		name string
		doc  string
		kept bool
	}{
		{"canonical", canonical, true},
		{"indented: no appkey verbatim", indented, false},
		// Each appkey is still its canonical JSON, but the body is
		// mostly white space.
		{"padded", strings.ReplaceAll(canonical, `},"app-`, `},`+strings.Repeat(" ", 2000)+`"app-`), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, workers := range []int{1, 2} {
				collected := make(chan struct{})
				var s *Snapshot
				func() {
					data := []byte(tc.doc)
					runtime.AddCleanup(&data[0], func(ch chan struct{}) { close(ch) }, collected)
					var err error
					env := GenEnv()
					env.Workers = workers
					if s, err = CompileOwned(data, 1, env); err != nil {
						t.Fatal(err)
					}
				}()
				deadline := time.Now().Add(time.Second)
				if !tc.kept {
					deadline = time.Now().Add(20 * time.Second)
				}
				gone := false
				for !gone && time.Now().Before(deadline) {
					runtime.GC()
					select {
					case <-collected:
						gone = true
					default:
						time.Sleep(10 * time.Millisecond)
					}
				}
				if gone == tc.kept {
					t.Fatalf("%d workers: the body was collected: %v; want %v", workers, gone, !tc.kept)
				}
				ref, err := ParseTable([]byte(tc.doc))
				if err != nil {
					t.Fatal(err)
				}
				for i := range s.Len() {
					name, src := s.AppkeyJSONAt(i)
					if want, _ := ref.Appkeys[name].AppendJSON(nil); string(src) != string(want) {
						t.Fatalf("%s: canonical JSON\n%s\nwant\n%s", name, src, want)
					}
				}
				if _, err := s.Decide(&Request{Appkey: "app-000001", UserID: "u1"}); err != nil {
					t.Fatal(err)
				}
				runtime.KeepAlive(s)
			}
		})
	}
}

// Changes of one appkey add a store each; past maxStores the snapshot
// compacts them, and decides, lists and encodes exactly as a table
// compiled afresh.
func TestStoresCompact(t *testing.T) {
	env := Env{Groups: GenEnv().Groups, Scripts: fakeScripts{}}
	withLua := func(a *Appkey) *Appkey {
		c := *a
		c.Rules = append(slices.Clip(a.Rules), Rule{Name: "lua", Type: TypeLua, Script: "region_route", Args: map[string]any{"sh": "east"}})
		return &c
	}
	s, err := Compile(GenerateTable(300, 1), 1, env)
	if err != nil {
		t.Fatal(err)
	}
	other := GenerateTable(400, 2)
	rng := rand.New(rand.NewPCG(7, 7))
	maxSeen := 0
	for v := uint64(2); v < 2+3*maxStores; v++ {
		name := fmt.Sprintf("app-%06d", rng.IntN(400))
		switch rng.IntN(3) {
		case 0:
			if next, err := s.WithSplit(name, rng.IntN(2) == 0, v); err == nil {
				s = next
			}
		case 1:
			if s, err = s.WithAppkey(name, withLua(other.Appkeys[name]), v, env); err != nil {
				t.Fatal(err)
			}
		case 2:
			if next, err := s.WithAppkey(name, nil, v, env); err == nil {
				s = next
			}
		}
		maxSeen = max(maxSeen, len(s.stores))
	}
	if maxSeen > maxStores+1 {
		t.Fatalf("a snapshot had %d stores; want at most %d", maxSeen, maxStores+1)
	}
	fresh, err := Compile(s.Table(), s.Version(), env)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := tableJSON(t, s), tableJSON(t, fresh); got != want {
		t.Fatalf("compacted table differs from its fresh compile:\n got %.300s\nwant %.300s", got, want)
	}
	for i := range 20000 {
		r := Request{Appkey: fmt.Sprintf("app-%06d", i%400), UserID: fmt.Sprintf("u%d", i), Version: fmt.Sprintf("2.%d.0", i%12),
			Callee: fmt.Sprintf("+86138%08d", i), IP: netip.AddrFrom4([4]byte{10, byte(i), 1, 2}),
			Attrs: []Attr{{"region", []string{"bj", "sh", "gz"}[i%3]}, {"group", "vip"}, {"tier", fmt.Sprint(i % 7)}}}
		if b, _ := s.AppkeyJSON(r.Appkey); bytes.Contains(b, []byte(`"random"`)) {
			continue // not the same answer twice
		}
		got, gerr := s.Decide(&r)
		want, werr := fresh.Decide(&r)
		if got != want || (gerr == nil) != (werr == nil) {
			t.Fatalf("%+v: compacted %+v, %v; fresh %+v, %v", r, got, gerr, want, werr)
		}
	}
}

// prefix matches as netip.Prefix.Contains does.
func TestPrefixContains(t *testing.T) {
	prefixes := []string{"10.0.0.0/8", "10.1.2.3/32", "0.0.0.0/0", "192.168.1.0/24", "fd00::/8", "::/0", "2001:db8::1/128", "2001:db8:8000::/33", "::ffff:0:0/96"}
	addrs := []string{"10.1.2.3", "10.255.0.1", "11.0.0.0", "192.168.1.77", "192.168.2.1", "fd12::1", "fe00::1", "2001:db8::1", "2001:db8::2",
		"2001:db8:8000::5", "2001:db8:7fff::5", "::ffff:10.1.2.3", "::", "0.0.0.0", "255.255.255.255"}
	for _, ps := range prefixes {
		pf := netip.MustParsePrefix(ps)
		p := prefixOf(pf)
		for _, as := range addrs {
			ip := netip.MustParseAddr(as)
			a := ip.As16()
			got := p.contains(ip, binary.BigEndian.Uint64(a[:8]), binary.BigEndian.Uint64(a[8:]))
			if want := pf.Masked().Contains(ip); got != want {
				t.Errorf("%s contains %s: %v; want %v", ps, as, got, want)
			}
		}
	}
}

// prefixOf's mask, for every prefix length: the address just inside and
// just outside each bit of the boundary, as netip.Prefix.Contains says.
func TestPrefixEveryLength(t *testing.T) {
	for _, base := range []string{"255.255.255.255", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "10.170.85.3", "2001:db8:aaaa:5555::1"} {
		addr := netip.MustParseAddr(base)
		for bits := range addr.BitLen() + 1 {
			pf := netip.PrefixFrom(addr, bits)
			p := prefixOf(pf)
			for flip := range addr.BitLen() {
				b := addr.AsSlice()
				b[flip/8] ^= 0x80 >> (flip % 8)
				ip, _ := netip.AddrFromSlice(b)
				a := ip.As16()
				got := p.contains(ip, binary.BigEndian.Uint64(a[:8]), binary.BigEndian.Uint64(a[8:]))
				if want := pf.Masked().Contains(ip); got != want {
					t.Fatalf("%s contains %s: %v; want %v", pf, ip, got, want)
				}
			}
		}
	}
}
