package admin

import (
	"encoding/json"
	"testing"

	"switchyard/splitter"
)

// A push whose appkey entries exceed auditDiffMax gets a summary in its
// audit entry, not the entries; a smaller one keeps them.
func TestAuditDiffOfAHugePushIsASummary(t *testing.T) {
	encodeSeed := func(n int, seed int64) *tableJSON {
		return compileEncoded(t, splitter.GenerateTable(n, seed), splitter.GenEnv())
	}
	before, after := encodeSeed(20000, 1), encodeSeed(20000, 2)
	if len(before.data)+len(after.data) <= auditDiffMax {
		t.Fatalf("the tables (%d bytes) are not over the limit; make them larger", len(before.data)+len(after.data))
	}
	b, a := diffEncodings(before, after, nil)
	for side, raw := range [][]byte{b, a} {
		var doc struct {
			Appkeys map[string]json.RawMessage `json:"appkeys"`
			Omitted struct {
				Changed int `json:"appkeys_changed"`
				Bytes   int `json:"bytes"`
			} `json:"appkeys_omitted"`
		}
		if err := json.Unmarshal(raw, &doc); err != nil {
			t.Fatalf("side %d: %v: %.200s", side, err, raw)
		}
		if len(raw) > 4096 || doc.Appkeys != nil || doc.Omitted.Changed < 1000 || doc.Omitted.Bytes <= auditDiffMax {
			t.Fatalf("side %d: %d bytes, %d entries, summary %+v; want a summary of the changed appkeys only", side, len(raw), len(doc.Appkeys), doc.Omitted)
		}
	}
	small, smaller := encodeSeed(300, 1), encodeSeed(300, 2)
	if b, _ := diffEncodings(small, smaller, nil); !json.Valid(b) || len(b) < 1000 {
		t.Fatalf("a small push's diff is %d bytes; want its entries", len(b))
	}
}
