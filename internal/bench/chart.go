package bench

import (
	"bytes"
	"fmt"
	"image/color"
	"io"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// transportColors give each transport the same colour in every panel.
var transportColors = map[string]color.Color{
	"tcp":  color.RGBA{0x4c, 0x72, 0xb0, 0xff},
	"tls":  color.RGBA{0x55, 0xa8, 0x68, 0xff},
	"quic": color.RGBA{0xc4, 0x4e, 0x52, 0xff},
}

// chartTitles name each panel's figure and say which way is better.
var chartTitles = map[string]string{
	Setup:    "setup to first echo, ms (lower is better)",
	Echo:     "echo round trip p50, ms (lower is better)",
	Bulk:     "bulk, MB/s (higher is better)",
	Small:    "small files, files/s (higher is better)",
	Parallel: "parallel, aggregate MB/s (higher is better)",
}

// errBars are the min-max ranges around the bars' medians.
type errBars struct {
	plotter.XYs
	plotter.YErrors
}

// WriteChart writes an SVG (or, for a path ending in .png, a PNG) with one panel per scenario: a bar per transport
// at the median, with a whisker from the slowest to the fastest trial.
// Results must be summarized.
func (r *Report) WriteChart(path string) error {
	var panels []*plot.Plot
	for _, sc := range Scenarios {
		var rs []Result
		for _, res := range r.Results {
			if res.Scenario == sc && res.Value.N > 0 {
				rs = append(rs, res)
			}
		}
		if len(rs) == 0 {
			continue
		}
		p, err := panel(sc, rs)
		if err != nil {
			return fmt.Errorf("chart %s: %w", sc, err)
		}
		panels = append(panels, p)
	}
	if len(panels) == 0 {
		return fmt.Errorf("chart: no successful trials to draw")
	}
	cols := min(len(panels), 3)
	rows := (len(panels) + cols - 1) / cols
	grid := make([][]*plot.Plot, rows)
	for i := range grid {
		grid[i] = make([]*plot.Plot, cols)
	}
	for i, p := range panels {
		grid[i/cols][i%cols] = p
	}
	const titleH = 36
	w, h := vg.Points(float64(260*cols)), vg.Points(float64(230*rows+titleH))
	var canvas interface {
		vg.CanvasSizer
		io.WriterTo
	}
	if strings.HasSuffix(strings.ToLower(path), ".png") {
		canvas = vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(144), vgimg.UseBackgroundColor(color.White))}
	} else {
		canvas = vgsvg.New(w, h)
	}
	dc := draw.New(canvas)
	title := fmt.Sprintf("ferry bench, %s (%s; %d CPUs)", r.Conditions.Link, r.Conditions.Kernel, r.Conditions.CPUs)
	sty := draw.TextStyle{Color: color.Black, Font: plot.DefaultFont, XAlign: draw.XCenter, YAlign: draw.YTop, Handler: plot.DefaultTextHandler}
	sty.Font.Size = vg.Points(11)
	dc.FillText(sty, vg.Point{X: w / 2, Y: h - vg.Points(8)}, title)
	body := draw.Crop(dc, 0, 0, 0, -vg.Points(titleH))
	tiles := draw.Tiles{Rows: rows, Cols: cols, PadX: vg.Points(12), PadY: vg.Points(12),
		PadTop: vg.Points(4), PadBottom: vg.Points(4), PadLeft: vg.Points(4), PadRight: vg.Points(8)}
	canvases := plot.Align(grid, tiles, body)
	for j := range grid {
		for i, p := range grid[j] {
			if p != nil {
				p.Draw(canvases[j][i])
			}
		}
	}
	var buf bytes.Buffer
	if _, err := canvas.WriteTo(&buf); err != nil {
		return err
	}
	return writeFileAtomic(path, buf.Bytes())
}

func panel(sc string, rs []Result) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = chartTitles[sc]
	p.Title.TextStyle.Font.Size = vg.Points(10)
	p.Y.Min = 0
	names := make([]string, len(rs))
	top := 0.0
	// Up to three bars fit 36 points each; setup has up to six (a row per
	// handshake), which get narrower bars and two-line labels.
	width := vg.Points(min(36, 150/float64(len(rs))))
	for i, res := range rs {
		names[i] = strings.Replace(res.Label(), " ", "\n", 1)
		bar, err := plotter.NewBarChart(plotter.Values{res.Value.Median}, width)
		if err != nil {
			return nil, err
		}
		bar.XMin = float64(i)
		bar.Color = transportColors[res.Transport]
		if bar.Color == nil {
			bar.Color = color.Gray{0x80}
		}
		if res.Label() != res.Transport {
			// A resumed or 0-RTT setup: the transport's colour, lighter.
			bar.Color = lighter(bar.Color, map[string]float64{HandshakeResumed: 0.35, Handshake0RTT: 0.6}[res.Handshake])
		}
		bar.LineStyle.Width = 0
		eb := errBars{
			XYs:     plotter.XYs{{X: float64(i), Y: res.Value.Median}},
			YErrors: plotter.YErrors{{Low: res.Value.Median - res.Value.Min, High: res.Value.Max - res.Value.Median}},
		}
		bars, err := plotter.NewYErrorBars(eb)
		if err != nil {
			return nil, err
		}
		bars.LineStyle.Width = vg.Points(1.2)
		p.Add(bar, bars)
		top = max(top, res.Value.Max)
	}
	p.Y.Max = top * 1.1
	p.NominalX(names...)
	p.X.Min, p.X.Max = -0.6, float64(len(rs))-0.4
	return p, nil
}

// lighter mixes c with white: f is the share of white, from 0 to 1.
func lighter(c color.Color, f float64) color.Color {
	r, g, b, _ := c.RGBA()
	mix := func(v uint32) uint8 { return uint8(float64(v>>8)*(1-f) + 255*f) }
	return color.RGBA{mix(r), mix(g), mix(b), 0xff}
}
