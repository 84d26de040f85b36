package main

import "switchyard/bench/internal/results"

type (
	Results     = results.Results
	Params      = results.Params
	LoadSample  = results.LoadSample
	Check       = results.Check
	HTTPRun     = results.HTTPRun
	Point       = results.Point
	PushRun     = results.PushRun
	DispatchRun = results.DispatchRun
	MemRun      = results.MemRun
	Profile     = results.Profile
	GoBench     = results.GoBench
	IdlePush    = results.IdlePush
)
