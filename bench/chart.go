//go:build linux

package bench

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"math"
	"strings"
	"text/template"
)

// ChartFigures are the keys of the figures the chart draws, one panel each,
// in order; figures missing from a report are left out.
var ChartFigures = []string{
	"rb_udp_fps", "rb_udp_per_cpu", "rb_fwd_user", "cpu_busy",
	"tcp_cps", "bulk_gbps", "lat_p50", "lat_p99",
}

// contenderColors are the bar colors, by position in the report's
// contenders (colour-blind-safe Okabe–Ito hues).
var contenderColors = []string{"#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00"}

// Chart geometry, in SVG user units (pixels).
const (
	chartCols   = 4
	panelW      = 300
	panelH      = 270
	chartMargin = 20
	chartTop    = 92 // title and legend
	plotLeft    = 62 // y axis labels
	plotRight   = 14
	plotTop     = 52 // panel title and direction note
	plotBottom  = 52 // x labels
)

// chartBar is one contender's bar in a panel.
type chartBar struct {
	Name, Color, Label      string
	X, W, Y, H              float64
	HasValue, HasWhisker    bool
	WhiskerTop, WhiskerBot  float64
	WhiskerX, CapL, CapR    float64
	LabelX, LabelY, NameY   float64
	MissingY                float64
	MedianText, SpreadTitle string
}

// chartTick is a y-axis tick.
type chartTick struct {
	Y     float64
	Label string
}

// chartPanel is one figure.
type chartPanel struct {
	X, Y                   float64
	Title, Note, Unit      string
	PlotX, PlotY, PlotW    float64
	PlotH, PlotBottom      float64
	UnitX, UnitY           float64
	Ticks                  []chartTick
	Bars                   []chartBar
	TitleX, TitleY, NoteY  float64
	RatioText              string
	RatioY                 float64
	AxisLeft, AxisRightEnd float64
}

// chartLegend is one legend entry.
type chartLegend struct {
	X, Y  float64
	Color string
	Name  string
}

// chartData is what the template draws.
type chartData struct {
	W, H     float64
	Title    string
	Subtitle string
	Legend   []chartLegend
	Panels   []chartPanel
}

// niceCeil returns the smallest of 1, 2, 2.5, 5 times a power of ten that
// is at least v (v > 0).
func niceCeil(v float64) float64 {
	if !(v > 0) || math.IsInf(v, 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*p >= v*(1-1e-12) {
			return m * p
		}
	}
	return 10 * p
}

// tickLabel formats an axis value compactly.
func tickLabel(v float64) string {
	switch {
	case v == 0:
		return "0"
	case math.Abs(v) >= 10000:
		return fmt.Sprintf("%.0fk", v/1000)
	case math.Abs(v) >= 100:
		return fmt.Sprintf("%.0f", v)
	case math.Abs(v) >= 10:
		return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.1f", v), "0"), ".")
	default:
		return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.3f", v), "0"), ".")
	}
}

// chart lays the report's figures out as panels.
func (rep *Report) chart() chartData {
	byKey := map[string]Figure{}
	for _, f := range rep.Figures {
		byKey[f.Key] = f
	}
	var figs []Figure
	for _, k := range ChartFigures {
		if f, ok := byKey[k]; ok && len(f.Values) > 0 {
			figs = append(figs, f)
		}
	}
	cols := min(chartCols, max(1, len(figs)))
	rows := (len(figs) + cols - 1) / cols
	d := chartData{
		W:     float64(2*chartMargin + cols*panelW),
		H:     float64(chartTop + rows*panelH + chartMargin),
		Title: fmt.Sprintf("xvs bench — median of %d round(s), whiskers min–max", rep.Settings.Rounds),
	}
	if rep.Settings.DirectorCPUs != "" {
		d.Subtitle = fmt.Sprintf("router box: director on CPU %s, generator/sinks/hosts on CPU %s · shared: all CPUs · %s, Linux %s",
			rep.Settings.DirectorCPUs, rep.Settings.HostCPUs, rep.Machine.GoVer, rep.Machine.Kernel)
	} else {
		d.Subtitle = fmt.Sprintf("all CPUs shared · %s, Linux %s", rep.Machine.GoVer, rep.Machine.Kernel)
	}
	for i, c := range rep.Contenders {
		d.Legend = append(d.Legend, chartLegend{X: float64(chartMargin + i*150), Y: 70, Color: contenderColors[i%len(contenderColors)], Name: c})
	}
	for i, f := range figs {
		px := float64(chartMargin + (i%cols)*panelW)
		py := float64(chartTop + (i/cols)*panelH)
		p := chartPanel{
			X: px, Y: py, Title: f.Name, Unit: f.Unit,
			PlotX: px + plotLeft, PlotY: py + plotTop,
			PlotW: panelW - plotLeft - plotRight, PlotH: panelH - plotTop - plotBottom,
			TitleX: px + panelW/2, TitleY: py + 18, NoteY: py + 34,
		}
		p.PlotBottom = p.PlotY + p.PlotH
		p.AxisLeft, p.AxisRightEnd = p.PlotX, p.PlotX+p.PlotW
		p.UnitX, p.UnitY = px+16, p.PlotY+p.PlotH/2
		if f.HigherIsBetter {
			p.Note = "higher is better"
		} else {
			p.Note = "lower is better"
		}
		var ratios []string
		if !math.IsNaN(float64(f.VsKernel)) && !math.IsInf(float64(f.VsKernel), 0) {
			ratios = append(ratios, "xvs/"+Kernel+" "+ratio(f.VsKernel))
		}
		if !math.IsNaN(float64(f.VsCeiling)) && !math.IsInf(float64(f.VsCeiling), 0) {
			ratios = append(ratios, "xvs/"+Ceiling+" "+ratio(f.VsCeiling))
		}
		p.RatioText = strings.Join(ratios, " · ")
		p.RatioY = p.PlotBottom + 40
		top := 0.0
		for _, c := range rep.Contenders {
			if v, ok := f.Values[c]; ok && v.N > 0 {
				top = math.Max(top, v.Max)
			}
		}
		top = niceCeil(top)
		for t := 0; t <= 4; t++ {
			v := top * float64(t) / 4
			p.Ticks = append(p.Ticks, chartTick{Y: p.PlotBottom - p.PlotH*float64(t)/4, Label: tickLabel(v)})
		}
		n := len(rep.Contenders)
		slot := p.PlotW / float64(max(n, 1))
		bw := math.Min(slot*0.6, 46)
		yOf := func(v float64) float64 { return p.PlotBottom - p.PlotH*math.Max(0, math.Min(v, top))/top }
		format := f.format
		if format == "" {
			format = "%.3g"
		}
		for j, c := range rep.Contenders {
			cx := p.PlotX + slot*(float64(j)+0.5)
			b := chartBar{Name: c, Color: contenderColors[j%len(contenderColors)], X: cx - bw/2, W: bw,
				LabelX: cx, NameY: p.PlotBottom + 16, MissingY: p.PlotBottom - 6}
			if v, ok := f.Values[c]; ok && v.N > 0 {
				b.HasValue = true
				b.Y = yOf(v.Median)
				b.H = p.PlotBottom - b.Y
				b.MedianText = fmt.Sprintf(format, v.Median)
				b.SpreadTitle = fmt.Sprintf("%s: %s %s median, min %s, max %s over %d round(s)", c, b.MedianText, f.Unit,
					fmt.Sprintf(format, v.Min), fmt.Sprintf(format, v.Max), v.N)
				b.LabelY = yOf(v.Max) - 5
				if v.Max > v.Min {
					b.HasWhisker = true
					b.WhiskerTop, b.WhiskerBot = yOf(v.Max), yOf(v.Min)
					b.WhiskerX, b.CapL, b.CapR = cx, cx-bw/4, cx+bw/4
				}
			}
			p.Bars = append(p.Bars, b)
		}
		d.Panels = append(d.Panels, p)
	}
	return d
}

// chartTemplate draws chartData; every text goes through x (XML escaping).
var chartTemplate = template.Must(template.New("chart").Funcs(template.FuncMap{
	"x": func(s string) (string, error) {
		var b bytes.Buffer
		err := xml.EscapeText(&b, []byte(s))
		return b.String(), err
	},
	"f": func(v float64) string { return fmt.Sprintf("%.1f", v) },
}).Parse(`<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="{{f .W}}" height="{{f .H}}" viewBox="0 0 {{f .W}} {{f .H}}" font-family="DejaVu Sans, Arial, Helvetica, sans-serif">
<title>{{x .Title}}</title>
<rect x="0" y="0" width="{{f .W}}" height="{{f .H}}" fill="#ffffff"/>
<text x="20" y="28" font-size="18" font-weight="bold" fill="#222">{{x .Title}}</text>
<text x="20" y="48" font-size="12" fill="#444">{{x .Subtitle}}</text>
<g id="legend">{{range .Legend}}
<rect x="{{f .X}}" y="{{f .Y}}" width="14" height="14" fill="{{.Color}}"/>
<text x="{{f .X}}" dx="20" y="{{f .Y}}" dy="12" font-size="13" fill="#222">{{x .Name}}</text>{{end}}
</g>
{{range .Panels}}{{$p := .}}<g class="panel">
<rect x="{{f .X}}" y="{{f .Y}}" width="300" height="270" fill="none" stroke="#ddd"/>
<text x="{{f .TitleX}}" y="{{f .TitleY}}" font-size="13" font-weight="bold" text-anchor="middle" fill="#222">{{x .Title}}</text>
<text x="{{f .TitleX}}" y="{{f .NoteY}}" font-size="10" text-anchor="middle" fill="#666">{{x .Note}}</text>
<text transform="translate({{f .UnitX}},{{f .UnitY}}) rotate(-90)" font-size="11" text-anchor="middle" fill="#444">{{x .Unit}}</text>
{{range .Ticks}}<line x1="{{f $p.AxisLeft}}" y1="{{f .Y}}" x2="{{f $p.AxisRightEnd}}" y2="{{f .Y}}" stroke="#eee"/>
<text x="{{f $p.AxisLeft}}" dx="-5" y="{{f .Y}}" dy="4" font-size="10" text-anchor="end" fill="#444">{{x .Label}}</text>
{{end}}<line x1="{{f .AxisLeft}}" y1="{{f .PlotY}}" x2="{{f .AxisLeft}}" y2="{{f .PlotBottom}}" stroke="#444"/>
<line x1="{{f .AxisLeft}}" y1="{{f .PlotBottom}}" x2="{{f .AxisRightEnd}}" y2="{{f .PlotBottom}}" stroke="#444"/>
{{range .Bars}}{{if .HasValue}}<rect x="{{f .X}}" y="{{f .Y}}" width="{{f .W}}" height="{{f .H}}" fill="{{.Color}}"><title>{{x .SpreadTitle}}</title></rect>
{{if .HasWhisker}}<line x1="{{f .WhiskerX}}" y1="{{f .WhiskerTop}}" x2="{{f .WhiskerX}}" y2="{{f .WhiskerBot}}" stroke="#222" stroke-width="1.5"/>
<line x1="{{f .CapL}}" y1="{{f .WhiskerTop}}" x2="{{f .CapR}}" y2="{{f .WhiskerTop}}" stroke="#222" stroke-width="1.5"/>
<line x1="{{f .CapL}}" y1="{{f .WhiskerBot}}" x2="{{f .CapR}}" y2="{{f .WhiskerBot}}" stroke="#222" stroke-width="1.5"/>
{{end}}<text x="{{f .LabelX}}" y="{{f .LabelY}}" font-size="10" text-anchor="middle" fill="#222">{{x .MedianText}}</text>
{{else}}<text x="{{f .LabelX}}" y="{{f .MissingY}}" font-size="10" text-anchor="middle" fill="#999">n/a</text>
{{end}}<text x="{{f .LabelX}}" y="{{f .NameY}}" font-size="10" text-anchor="middle" fill="#222">{{x .Name}}</text>
{{end}}<text x="{{f .TitleX}}" y="{{f .RatioY}}" font-size="10" text-anchor="middle" fill="#444">{{x .RatioText}}</text>
</g>
{{end}}</svg>
`))

// SVG draws the report's main figures as a bar chart: one panel per
// figure, a bar per contender at the median with a whisker from the
// minimum to the maximum over rounds, labelled axes and a legend.
func (rep *Report) SVG() ([]byte, error) {
	var b bytes.Buffer
	if err := chartTemplate.Execute(&b, rep.chart()); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
