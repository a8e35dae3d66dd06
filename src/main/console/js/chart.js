// uPlot (vendor/uPlot.iife.min.js, from npm at build time) behind one small function.

import {el} from './text.js';

const COLOURS = ['#2563eb', '#dc2626', '#16a34a', '#d97706', '#7c3aed', '#0891b2', '#db2777', '#4b5563',
  '#65a30d', '#9333ea'];

/**
 * A time chart in container: xs are epoch seconds, series is [{label, values}] (one value per x). Answers
 * {update(xs, series), destroy()}; the chart is rebuilt when the set of series changes.
 */
export function timeChart(container, testId, title, xs, series, options) {
  const o = options || {};
  const box = el('div', {className: 'chart', 'data-test': testId});
  container.appendChild(box);
  let plot = null;
  let labels = '';

  function build(x, s) {
    if (plot) {
      plot.destroy();
      plot = null;
    }
    if (typeof window.uPlot !== 'function') {
      box.textContent = 'charts unavailable (uPlot did not load)';
      return;
    }
    box.textContent = '';
    labels = s.map((v) => v.label).join('\n');
    const width = Math.max(320, Math.min(1600, (container.clientWidth || 900) - 8));
    plot = new window.uPlot({
      title,
      width,
      height: o.height || 260,
      scales: {x: {time: true}, y: {range: (u, min, max) => [0, Math.max(1, max)]}},
      axes: [{}, {label: o.yLabel || ''}],
      series: [{}].concat(s.map((v, i) => ({
        label: v.label,
        stroke: COLOURS[i % COLOURS.length],
        width: 2,
        points: {show: !o.bars && x.length <= 30},
        paths: o.bars && window.uPlot.paths && window.uPlot.paths.bars
          ? window.uPlot.paths.bars({size: [0.8, 40]}) : undefined,
        fill: o.bars ? COLOURS[i % COLOURS.length] + '55' : undefined,
      }))),
    }, [x].concat(s.map((v) => v.values)), box);
  }

  function update(x, s) {
    if (!plot || s.map((v) => v.label).join('\n') !== labels) {
      build(x, s);
    } else {
      plot.setData([x].concat(s.map((v) => v.values)));
    }
  }

  build(xs, series);
  return {
    update,
    destroy() {
      if (plot) {
        plot.destroy();
        plot = null;
      }
    },
  };
}
