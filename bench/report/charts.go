package main

import (
	"fmt"
	"image/color"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

var palette = map[string]color.Color{
	"switchyard":        color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	"nginx":             color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
	"baseline":          color.RGBA{R: 0x7f, G: 0x7f, B: 0x7f, A: 0xff},
	"switchyard-redis":  color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
	"switchyard-memory": color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
}

func colorOf(server string) color.Color {
	if c, ok := palette[server]; ok {
		return c
	}
	return color.Black
}

// throughputChart: median req/s per scenario and server, with min–max bars.
func throughputChart(r *Results, dir string) (string, error) {
	scenarios := scenariosOf(r, "route-1k", "route-100k", "lua-1k", "lua-100k")
	if len(scenarios) == 0 {
		return "", nil
	}
	p := plot.New()
	p.Title.Text = "POST /v1/route: requests/s (median of rounds, bars: min–max)"
	p.Y.Label.Text = "requests/s"
	servers := []string{"switchyard", "nginx", "baseline"}
	// Bar k*4+i is scenario k, server i; one data unit is 1/(4·len) of the
	// plot's width, so a bar of 0.8 units is drawn as that many points.
	const plotWidth = 8 * vg.Inch
	units := float64(len(scenarios) * 4)
	barW := vg.Length(0.8 / units * float64(plotWidth-vg.Inch))
	var ticks []plot.Tick
	inLegend := map[string]bool{}
	for k, sc := range scenarios {
		ticks = append(ticks, plot.Tick{Value: float64(k*4 + 1), Label: sc})
		for i, s := range servers {
			st := statsOf(r, sc, s)
			if st.n == 0 {
				continue
			}
			bar, err := plotter.NewBarChart(plotter.Values{st.rps.med}, barW)
			if err != nil {
				return "", err
			}
			bar.XMin = float64(k*4 + i)
			bar.Color = colorOf(s)
			bar.LineStyle.Width = 0
			p.Add(bar)
			if !inLegend[s] {
				inLegend[s] = true
				p.Legend.Add(s, bar)
			}
			eb := &plotter.YErrorBars{
				XYs:       plotter.XYs{{X: float64(k*4 + i), Y: st.rps.med}},
				YErrors:   plotter.YErrors{{Low: st.rps.med - st.rps.min, High: st.rps.max - st.rps.med}},
				LineStyle: plotter.DefaultLineStyle,
				CapWidth:  barW / 2,
			}
			p.Add(eb)
		}
	}
	p.X.Min, p.X.Max = -0.75, units-1.25
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	p.Y.Min = 0
	top := 0.0
	for _, sc := range scenarios {
		for _, s := range servers {
			top = max(top, statsOf(r, sc, s).rps.max)
		}
	}
	p.Y.Max = top * 1.2 // room for the legend
	p.Legend.Top = true
	name := "throughput.png"
	return name, p.Save(plotWidth, 4.5*vg.Inch, filepath.Join(dir, name))
}

// pushChart: p99 and p50 per 100 ms during the push, one panel per server
// (round 1), with the push's start and end marked.
func pushChart(r *Results, dir string) (string, error) {
	if len(r.Push) == 0 {
		return "", nil
	}
	p := plot.New()
	p.Title.Text = fmt.Sprintf("/v1/route latency per 100 ms during a %d-appkey push (at 70%% of peak)", r.Push[0].Appkeys)
	p.X.Label.Text = "seconds since the measured start"
	p.Y.Label.Text = "latency (ms, log scale)"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	for _, server := range []string{"switchyard", "nginx"} {
		var run *PushRun
		for i := range r.Push {
			if r.Push[i].Server == server && r.Push[i].Round == 1 {
				run = &r.Push[i]
				break
			}
		}
		if run == nil {
			continue
		}
		var p99, p50 plotter.XYs
		for _, pt := range run.Series {
			if pt.Count == 0 {
				continue
			}
			p99 = append(p99, plotter.XY{X: float64(pt.Ms) / 1000, Y: max(pt.P99us/1000, 0.01)})
			p50 = append(p50, plotter.XY{X: float64(pt.Ms) / 1000, Y: max(pt.P50us/1000, 0.01)})
		}
		l99, err := plotter.NewLine(p99)
		if err != nil {
			return "", err
		}
		l99.Color = colorOf(server)
		l99.Width = vg.Points(1.5)
		l50, err := plotter.NewLine(p50)
		if err != nil {
			return "", err
		}
		l50.Color = colorOf(server)
		l50.Dashes = plotutil.Dashes(2)
		p.Add(l99, l50)
		p.Legend.Add(server+" p99", l99)
		p.Legend.Add(server+" p50", l50)
		// The push window as a bar at the bottom.
		s, e := float64(run.PushStartMs)/1000, float64(run.PushStartMs+run.PushMs)/1000
		y := map[string]float64{"switchyard": 0.02, "nginx": 0.035}[server]
		mark, err := plotter.NewLine(plotter.XYs{{X: s, Y: y}, {X: e, Y: y}})
		if err == nil {
			mark.Color = colorOf(server)
			mark.Width = vg.Points(6)
			p.Add(mark)
			p.Legend.Add(server+" push (PUT sent → answered)", mark)
		}
	}
	p.Legend.Top = true
	name := "push_latency.png"
	return name, p.Save(9*vg.Inch, 4.5*vg.Inch, filepath.Join(dir, name))
}

// capsChart: originates per 100 ms against the configured limit.
func capsChart(r *Results, dir string) (string, error) {
	var run *DispatchRun
	for i := range r.Dispatch {
		if r.Dispatch[i].Scenario == "caps" {
			run = &r.Dispatch[i]
		}
	}
	if run == nil || len(run.Per100ms) == 0 {
		return "", nil
	}
	p := plot.New()
	p.Title.Text = fmt.Sprintf("CAPS: originates per 100 ms, line limit %d/s", run.CapsLimit)
	p.X.Label.Text = "seconds since the first originate"
	p.Y.Label.Text = "originates per 100 ms"
	var pts plotter.XYs
	for k, c := range run.Per100ms {
		pts = append(pts, plotter.XY{X: float64(k) / 10, Y: float64(c)})
	}
	l, err := plotter.NewLine(pts)
	if err != nil {
		return "", err
	}
	l.Color = colorOf("switchyard")
	limit := float64(run.CapsLimit) / 10
	lim, err := plotter.NewLine(plotter.XYs{{X: 0, Y: limit}, {X: float64(len(run.Per100ms)) / 10, Y: limit}})
	if err != nil {
		return "", err
	}
	lim.Color = color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}
	lim.Dashes = plotutil.Dashes(1)
	p.Add(l, lim)
	p.Legend.Add("originates received by sim-fs", l)
	if len(run.AdmitPer100ms) > 0 {
		var adm plotter.XYs
		for k, c := range run.AdmitPer100ms {
			adm = append(adm, plotter.XY{X: float64(k) / 10, Y: float64(c)})
		}
		la, err := plotter.NewLine(adm)
		if err != nil {
			return "", err
		}
		la.Color = colorOf("nginx")
		p.Add(la)
		p.Legend.Add("calls admitted by switchyard's limiter", la)
	}
	p.Legend.Add("configured limit", lim)
	p.Y.Min = 0
	name := "caps.png"
	return name, p.Save(8*vg.Inch, 4*vg.Inch, filepath.Join(dir, name))
}

// memoryChart: resident size against appkeys.
func memoryChart(r *Results, dir string) (string, error) {
	if len(r.Memory) == 0 {
		return "", nil
	}
	p := plot.New()
	p.Title.Text = "switchyard resident memory (VmRSS after the route load)"
	p.X.Label.Text = "appkeys in the table (log scale)"
	p.Y.Label.Text = "MiB"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	var pts plotter.XYs
	for _, m := range r.Memory {
		pts = append(pts, plotter.XY{X: float64(m.Appkeys), Y: m.RSSMB})
	}
	l, s, err := plotter.NewLinePoints(pts)
	if err != nil {
		return "", err
	}
	l.Color = colorOf("switchyard")
	s.Color = colorOf("switchyard")
	p.Add(l, s)
	labels, err := plotter.NewLabels(plotter.XYLabels{XYs: pts, Labels: func() []string {
		var out []string
		for _, m := range r.Memory {
			out = append(out, fmt.Sprintf(" %.0f MiB", m.RSSMB))
		}
		return out
	}()})
	if err == nil {
		p.Add(labels)
	}
	p.Y.Min = 0
	name := "memory.png"
	return name, p.Save(7*vg.Inch, 4*vg.Inch, filepath.Join(dir, name))
}
