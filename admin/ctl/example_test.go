package ctl_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"

	"switchyard/admin/ctl"
)

// ExampleMain flips an appkey's kill-switch, as `switchyard ctl split
// collect-app off` does, against a stand-in for the admin API.
func ExampleMain() {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Printf("server got %s %s %s with %q\n", r.Method, r.URL.Path, body, r.Header.Get("Authorization"))
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"version":42}`)
	}))
	defer api.Close()

	code := ctl.Main([]string{"--admin", api.URL, "--token", "change-me", "split", "collect-app", "off"}, os.Stdout, os.Stderr)
	fmt.Println("exit code", code)
	// Output:
	// server got PUT /admin/v1/appkeys/collect-app/split {"split":"off"} with "Bearer change-me"
	// appkey collect-app: split off (table version 42)
	// exit code 0
}
