// Package results holds the JSON that bench/harness writes and bench/report
// reads.
package results

// Results is everything one run measured; bench/report turns it into
// RESULTS.md and the charts. Every figure comes from a measurement.
type Results struct {
	Quick    bool          `json:"quick"`
	Started  string        `json:"started"`
	Finished string        `json:"finished"`
	Machine  Machine       `json:"machine"`
	Params   Params        `json:"params"`
	Load     []LoadSample  `json:"load"` // uptime at each section
	Commands []string      `json:"commands"`
	Checks   []Check       `json:"checks"`
	HTTP     []HTTPRun     `json:"http_runs"` // route, lua, calls, ceiling
	Push     []PushRun     `json:"push_runs"`
	IdlePush []IdlePush    `json:"idle_pushes"`
	Dispatch []DispatchRun `json:"dispatch_runs"`
	Memory   []MemRun      `json:"memory_runs"`
	Profiles []Profile     `json:"profiles"`
	Layouts  []GoBench     `json:"layouts"` // the appkey index layouts compared
	Notes    []string      `json:"notes"`
}

// GoBench is one line of `go test -bench` output.
type GoBench struct {
	Name    string  `json:"name"` // e.g. BenchmarkLookup/fastcache
	NsPerOp float64 `json:"ns_per_op"`
	Allocs  float64 `json:"allocs_per_op"`
}

type Machine struct {
	CPU        string `json:"cpu"`
	Cores      int    `json:"cores"`
	MemoryMB   int    `json:"memory_mb"`
	Kernel     string `json:"kernel"`
	Go         string `json:"go"`
	Nginx      string `json:"nginx"`
	NgxLua     string `json:"ngx_lua"`
	LuaJIT     string `json:"luajit"`
	Redis      string `json:"redis"`
	Wrk        string `json:"wrk"`
	Switchyard string `json:"switchyard_commit"`
}

type Params struct {
	Conns       int     `json:"conns"`
	DurationS   float64 `json:"duration_s"`
	WarmupS     float64 `json:"warmup_s"`
	Rounds      int     `json:"rounds"`
	ServerCore  int     `json:"server_core"`
	LoadgenCore int     `json:"loadgen_core"`
}

type LoadSample struct {
	At      string `json:"at"`
	Section string `json:"section"`
	Uptime  string `json:"uptime"`
}

type Check struct {
	Scenario string         `json:"scenario"`
	Result   map[string]any `json:"result"`
	Passed   bool           `json:"passed"`
}

// HTTPRun is one closed-loop wrk run (or loadgen for the ceiling check).
type HTTPRun struct {
	Scenario  string  `json:"scenario"` // route-1k, route-100k, lua-1k, calls, ceiling
	Server    string  `json:"server"`   // switchyard, nginx, baseline, switchyard-redis, …
	Round     int     `json:"round"`
	Tool      string  `json:"tool"`
	RPS       float64 `json:"rps"`
	Requests  int     `json:"requests"`
	Errors    int     `json:"errors"` // socket errors, time-outs and non-2xx answers
	P50us     float64 `json:"p50_us"`
	P99us     float64 `json:"p99_us"`
	P999us    float64 `json:"p999_us"`
	MaxUs     float64 `json:"max_us"`
	GenCPU    float64 `json:"generator_cpu_cores"`
	ServerCPU float64 `json:"server_cpu_cores"`
}

type Point struct {
	Ms     int     `json:"ms"`
	P50us  float64 `json:"p50_us"`
	P99us  float64 `json:"p99_us"`
	Count  int     `json:"count"`
	Errors int     `json:"errors"`
}

type PushRun struct {
	Server  string `json:"server"`
	Round   int    `json:"round"`
	Appkeys int    `json:"appkeys"`
	// Changed is how many of the appkeys the push changed: all of them
	// (the rules of another seed), or a few (kill-switches flipped).
	// 0 in results from before it was recorded: all.
	Changed     int     `json:"changed,omitempty"`
	LoadPct     int     `json:"load_pct"` // Rate as a percentage of PeakRPS: 70, 35 or 15
	Rate        int     `json:"rate"`     // LoadPct% of the server's median peak
	PeakRPS     float64 `json:"peak_rps"`
	PushStartMs int     `json:"push_start_ms"`
	PushMs      int     `json:"push_ms"` // the PUT's round trip: upload, validated and in force
	// ApplyMs is switchyard's own time from the body received to the
	// table in force (the sum of switchyard_table_apply_seconds over the
	// round); 0 when not known (nginx).
	ApplyMs int `json:"apply_ms,omitempty"`
	// RedonePaced: the push's work, starved at idle priority, was done
	// again at ordinary priority, paced (switchyard).
	RedonePaced bool `json:"redone_paced,omitempty"`
	// SteadyCPU is the server's CPU use (cores) under the load before
	// the push.
	SteadyCPU   float64 `json:"steady_cpu"`
	PushStatus  int     `json:"push_status"`
	Requests    int     `json:"requests"`
	Errors      int     `json:"errors"`
	SteadyP99us float64 `json:"steady_p99_us"`
	PushP99us   float64 `json:"push_p99_us"` // from the push's start to 1 s after it ended
	SteadyP50us float64 `json:"steady_p50_us"`
	PushP50us   float64 `json:"push_p50_us"`
	Series      []Point `json:"series"`
}

type DispatchRun struct {
	Scenario     string  `json:"scenario"` // throughput or caps
	Tasks        int     `json:"tasks"`
	Originates   int     `json:"originates"`
	Seconds      float64 `json:"seconds"`
	PerSecond    float64 `json:"originates_per_s"`
	CPUSeconds   float64 `json:"server_cpu_s"`
	CPUPerCallUs float64 `json:"cpu_per_call_us"`
	CapsLimit    int     `json:"caps_limit,omitempty"`
	MeanRate     float64 `json:"mean_rate,omitempty"`      // over the whole seconds of the steady part
	MeanErrorPct float64 `json:"mean_error_pct,omitempty"` // (mean rate / limit − 1) × 100
	WorstSecPct  float64 `json:"worst_second_error_pct,omitempty"`
	Per100ms     []int   `json:"per_100ms,omitempty"` // originates the sim-fs nodes received
	// The same from switchyard's side: each task's first attempt start
	// (GET /v1/calls/{id}), the time the CAPS limiter admitted the call.
	AdmitPer100ms     []int   `json:"admit_per_100ms,omitempty"`
	AdmitMeanRate     float64 `json:"admit_mean_rate,omitempty"`
	AdmitMeanErrorPct float64 `json:"admit_mean_error_pct,omitempty"`
	AdmitWorstSecPct  float64 `json:"admit_worst_second_error_pct,omitempty"`
	Note              string  `json:"note,omitempty"`
}

type MemRun struct {
	Appkeys     int     `json:"appkeys"`
	LoadS       float64 `json:"load_s"` // start to ready
	RSSMB       float64 `json:"rss_mb"` // after the load ran
	IdleRSSMB   float64 `json:"idle_rss_mb"`
	GCCycles    int     `json:"gc_cycles"` // during the load
	GCPauseP99  float64 `json:"gc_pause_p99_ms"`
	GCPauseMax  float64 `json:"gc_pause_max_ms"`
	RouteRPS    float64 `json:"route_rps"`
	TableFileMB float64 `json:"table_file_mb"`
}

type Profile struct {
	Name    string   `json:"name"`
	Command string   `json:"command"`
	Lines   []string `json:"lines"`
}

// IdlePush is a push with no traffic running: the PUT's round trip.
type IdlePush struct {
	Server  string `json:"server"`
	Appkeys int    `json:"appkeys"`
	Changed int    `json:"changed,omitempty"` // as PushRun's
	Ms      int    `json:"ms"`
}

// ChangedAll reports whether a push changed every appkey.
func ChangedAll(appkeys, changed int) bool { return changed == 0 || changed >= appkeys }
