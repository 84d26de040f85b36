package policies

import (
	"math"
	"time"

	lua "github.com/yuin/gopher-lua"

	"switchyard/splitter"
)

// The helpers a script gets instead of os and its clock: calendar fields
// at a fixed UTC offset, and the splitter's sticky bucket hash.
func installHelpers(L *lua.LState, g *lua.LTable) {
	g.RawSetString("localtime", L.NewFunction(luaLocaltime))
	g.RawSetString("daytime", L.NewFunction(luaDaytime))
	g.RawSetString("bucket", L.NewFunction(luaBucket))
}

// luaLocaltime is the global localtime(unix, utc_offset_minutes): the
// calendar fields of a unix time at a fixed UTC offset. wday counts from
// 1 = Sunday as os.date does; iso_wday from 1 = Monday to 7 = Sunday.
func luaLocaltime(L *lua.LState) int {
	t := localTime(L)
	r := L.CreateTable(0, 9)
	r.RawSetString("year", lua.LNumber(t.Year()))
	r.RawSetString("month", lua.LNumber(t.Month()))
	r.RawSetString("day", lua.LNumber(t.Day()))
	r.RawSetString("hour", lua.LNumber(t.Hour()))
	r.RawSetString("min", lua.LNumber(t.Minute()))
	r.RawSetString("sec", lua.LNumber(t.Second()))
	r.RawSetString("wday", lua.LNumber(t.Weekday()+1))
	r.RawSetString("iso_wday", lua.LNumber((int(t.Weekday())+6)%7+1))
	r.RawSetString("yday", lua.LNumber(t.YearDay()))
	L.Push(r)
	return 1
}

// luaDaytime is the global daytime(unix, utc_offset_minutes): the minute
// of the day (0-1439) and the ISO weekday (1 = Monday) at a fixed UTC
// offset, without building a table.
func luaDaytime(L *lua.LState) int {
	t := localTime(L)
	L.Push(lua.LNumber(t.Hour()*60 + t.Minute()))
	L.Push(lua.LNumber((int(t.Weekday())+6)%7 + 1))
	return 2
}

// localTime reads the (unix, utc_offset_minutes) arguments.
func localTime(L *lua.LState) time.Time {
	sec := float64(L.CheckNumber(1))
	off := float64(L.OptNumber(2, 0))
	if math.IsNaN(sec) || math.Abs(sec) > 1e12 {
		L.ArgError(1, "unix time out of range")
	}
	if math.IsNaN(off) || math.Abs(off) > 24*60 {
		L.ArgError(2, "utc offset must be within ±1440 minutes")
	}
	return time.Unix(int64(math.Floor(sec)), 0).In(time.FixedZone("", int(off)*60))
}

// luaBucket is the global bucket(n, part, ...): the sticky bucket in
// [0, n) of the parts, by the splitter's hash (splitter.BucketHash), so a
// script can split keys by percentage the same way on every gateway.
func luaBucket(L *lua.LState) int {
	n := L.CheckNumber(1)
	if n < 1 || n > math.MaxInt32 || n != lua.LNumber(math.Floor(float64(n))) {
		L.ArgError(1, "bucket count must be a whole number from 1 to 2^31-1")
	}
	top := L.GetTop()
	if top < 2 {
		L.RaiseError("bucket(n, part, ...) needs at least one part to hash")
	}
	parts := make([]string, 0, top-1)
	for i := 2; i <= top; i++ {
		parts = append(parts, L.CheckString(i))
	}
	L.Push(lua.LNumber(splitter.BucketHash(parts...) % uint32(n)))
	return 1
}
