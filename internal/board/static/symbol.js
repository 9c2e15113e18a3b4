// The symbol page's chart: the last candles of one timeframe with the HAMA candles, the MA line, the
// Bollinger Bands and the crosses over them, drawn by TradingView's lightweight-charts from the REST
// API's series. It redraws when the stream (board.js) replaces this symbol's row.
'use strict';

(function () {
  const LC = window.LightweightCharts;
  const symbol = document.body.dataset.symbol;
  const timeframe = document.body.dataset.timeframe;
  const status = document.getElementById('chart-status');
  const el = document.getElementById('chart');
  const colors = { green: '#089981', red: '#f23645', ma: '#2962ff', bb: '#9c27b0', basis: '#ff9800' };

  const chart = LC.createChart(el, {
    autoSize: true,
    layout: { attributionLogo: false, background: { color: '#ffffff' }, textColor: '#1f2328' },
    grid: { vertLines: { color: '#eef0f3' }, horzLines: { color: '#eef0f3' } },
    timeScale: { timeVisible: true, secondsVisible: false },
  });
  const series = {
    candles: chart.addSeries(LC.CandlestickSeries, {
      upColor: '#c8e6c9', downColor: '#ffcdd2', borderUpColor: '#81c784', borderDownColor: '#e57373',
      wickUpColor: '#81c784', wickDownColor: '#e57373', title: 'candles',
    }),
    hama: chart.addSeries(LC.CandlestickSeries, {
      upColor: colors.green, downColor: colors.red, borderVisible: false,
      wickUpColor: colors.green, wickDownColor: colors.red, title: 'HAMA',
    }),
    ma: chart.addSeries(LC.LineSeries, { color: colors.ma, lineWidth: 2, title: 'MA', priceLineVisible: false }),
    bbUpper: chart.addSeries(LC.LineSeries, { color: colors.bb, lineWidth: 1, title: 'BB upper', priceLineVisible: false, lastValueVisible: false }),
    bbBasis: chart.addSeries(LC.LineSeries, { color: colors.basis, lineWidth: 1, lineStyle: 2, title: 'BB basis', priceLineVisible: false, lastValueVisible: false }),
    bbLower: chart.addSeries(LC.LineSeries, { color: colors.bb, lineWidth: 1, title: 'BB lower', priceLineVisible: false, lastValueVisible: false }),
  };
  const markers = LC.createSeriesMarkers(series.hama, []);

  // na values are null in the series: a bar without a value is whitespace, not a zero.
  function candles(d, o, h, l, c, colorOf) {
    return d.time.map(function (t, i) {
      if (o[i] === null || h[i] === null || l[i] === null || c[i] === null) return { time: t };
      const bar = { time: t, open: o[i], high: h[i], low: l[i], close: c[i] };
      if (colorOf) {
        const col = colorOf(i);
        if (col) { bar.color = col; bar.wickColor = col; bar.borderColor = col; }
      }
      return bar;
    });
  }
  function line(d, values) {
    return d.time.map(function (t, i) { return values[i] === null ? { time: t } : { time: t, value: values[i] }; });
  }

  function draw(d) {
    series.candles.setData(candles(d, d.open, d.high, d.low, d.close));
    series.hama.setData(candles(d, d.hama_open, d.hama_high, d.hama_low, d.hama_close, function (i) { return colors[d.hama_color[i]]; }));
    series.ma.setData(line(d, d.ma));
    series.bbUpper.setData(line(d, d.bb_upper));
    series.bbBasis.setData(line(d, d.bb_basis));
    series.bbLower.setData(line(d, d.bb_lower));
    markers.setMarkers((d.crosses || []).slice().sort(function (a, b) { return a.time - b.time; }).map(function (c) {
      const up = c.direction === 'up';
      return { time: c.time, position: up ? 'belowBar' : 'aboveBar', color: up ? colors.green : colors.red,
        shape: up ? 'arrowUp' : 'arrowDown', text: up ? 'cross up' : 'cross down' };
    }));
    chart.timeScale().fitContent();
    status.textContent = d.time.length + ' ' + d.timeframe + ' candles up to ' + d.candle_close_time + ', computed ' + d.computed_at;
    status.dataset.state = 'drawn';
    status.dataset.bars = String(d.time.length);
    status.dataset.candle = d.candle_close_time;
  }

  function load() {
    const q = new URLSearchParams({ timeframe: timeframe, bars: '200' });
    fetch('/api/v1/analysis/' + encodeURIComponent(symbol) + '/series?' + q.toString(), { headers: { Accept: 'application/json' } })
      .then(function (r) { return r.json(); })
      .then(function (env) {
        if (env.code !== 1) throw new Error(env.msg);
        draw(env.data);
      })
      .catch(function (err) {
        status.textContent = 'the series could not be loaded: ' + err.message;
        status.dataset.state = 'failed';
      });
  }

  window.hamaChart = { chart: chart, series: series, markers: markers };
  document.addEventListener('board:rows', function (e) { if (e.detail.indexOf(symbol) >= 0) load(); });
  load();
})();
