/** Chart.js with only the pieces the pages use (tree-shaken), French-friendly defaults. */
import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  Legend,
  LineController,
  LineElement,
  LinearScale,
  PointElement,
  Tooltip,
  type ChartConfiguration,
  type ChartType,
} from 'chart.js';

Chart.register(
  BarController,
  BarElement,
  CategoryScale,
  Legend,
  LineController,
  LineElement,
  LinearScale,
  PointElement,
  Tooltip,
);
Chart.defaults.font.family = 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';
Chart.defaults.color = '#2b2118';
Chart.defaults.locale = 'fr-FR';
Chart.defaults.maintainAspectRatio = false;
// Tests and screenshots want the final picture, and reduced motion is kinder anyway.
Chart.defaults.animation = false;

export const COLOURS = {
  accent: '#1f6f5c',
  brand: '#8b5a2b',
  warn: '#c28a00',
  err: '#a4262c',
};

/** Creates a chart in `canvas`, or updates the existing one in place. */
export function drawChart<T extends ChartType>(
  canvas: HTMLCanvasElement,
  config: ChartConfiguration<T>,
): Chart<T> {
  const existing = Chart.getChart(canvas) as Chart<T> | undefined;
  if (existing) {
    existing.data = config.data;
    if (config.options) existing.options = config.options;
    existing.update();
    return existing;
  }
  return new Chart(canvas, config);
}
