// The dashboard's expiry timeline with Chart.js: certificates expiring per week for the next
// 13 weeks, stacked by issuer. Bars are coloured by the week's distance from now (red when it
// starts within 7 days, amber within 30, else green); issuers differ in shade.
import {
  BarController, BarElement, CategoryScale, Chart, Legend, LinearScale, Tooltip,
} from "chart.js";

Chart.register(BarController, BarElement, CategoryScale, LinearScale, Legend, Tooltip);

const DAY_MS = 86400 * 1000;
// [red, amber, green] as RGB; each issuer gets a lighter shade than the one before.
const THRESHOLD_RGB = { crit: [200, 40, 40], warn: [224, 145, 20], ok: [46, 139, 87] };

export function weekClass(weekStartIso, now = Date.now()) {
  const days = (new Date(weekStartIso).getTime() - now) / DAY_MS;
  if (days < 7) return "crit";
  if (days < 30) return "warn";
  return "ok";
}

function shade(rgb, index) {
  const alpha = Math.max(0.35, 1 - index * 0.22);
  return `rgba(${rgb[0]}, ${rgb[1]}, ${rgb[2]}, ${alpha})`;
}

export function expiryChart(canvas, weeks, now = Date.now()) {
  const issuers = [...new Set(weeks.flatMap((w) => Object.keys(w.by_issuer || {})))].sort();
  const classes = weeks.map((w) => weekClass(w.week_start, now));
  const datasets = issuers.map((issuer, i) => ({
    label: issuer,
    data: weeks.map((w) => (w.by_issuer || {})[issuer] || 0),
    backgroundColor: classes.map((c) => shade(THRESHOLD_RGB[c], i)),
    borderColor: "#ffffff",
    borderWidth: 1,
    stack: "expiry",
  }));
  return new Chart(canvas, {
    type: "bar",
    data: { labels: weeks.map((w) => w.week_start.slice(0, 10)), datasets },
    options: {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      scales: {
        x: { stacked: true, title: { display: true, text: "week starting" } },
        y: { stacked: true, beginAtZero: true, ticks: { precision: 0 },
             title: { display: true, text: "certificates expiring" } },
      },
      plugins: {
        legend: {
          position: "bottom",
          labels: {
            // The legend names issuers in the green ("more than 30 days") shade of each.
            generateLabels: (chart) => chart.data.datasets.map((d, i) => ({
              text: d.label, fillStyle: shade(THRESHOLD_RGB.ok, i), strokeStyle: "#fff",
              lineWidth: 1, datasetIndex: i, hidden: !chart.isDatasetVisible(i),
            })),
          },
        },
      },
    },
  });
}
